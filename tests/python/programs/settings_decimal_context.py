from pydron import schedule, functional

import decimal
from decimal import Decimal

# The decimal context set at the top of the script (and changed between
# calls) is the one the tasks compute with.
decimal.getcontext().prec = 50

@functional
def third(x):
    return Decimal(x) / Decimal(3)

@functional
def divide(a, b):
    return Decimal(a) / Decimal(b)

@schedule
def main():
    out = [third(1)]
    decimal.getcontext().prec = 6
    decimal.getcontext().rounding = decimal.ROUND_DOWN
    out.append(third(2))
    decimal.getcontext().traps[decimal.DivisionByZero] = False
    out.append(divide(1, 0))
    return out

if __name__ == "__main__":
    print(main())
