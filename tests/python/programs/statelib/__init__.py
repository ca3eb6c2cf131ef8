"""A module of the program (not a differential program itself): settings the
script changes before it calls the functions below."""
