from pydron import schedule, functional

import logging

# No logging set-up at all: a WARNING logged in a task comes out as Python's
# last-resort handler prints it (the message alone), on stderr.

@functional
def risky(x):
    logging.getLogger("prog").info("invisible %s", x)
    logging.getLogger("prog").warning("value %s is odd", x)
    return x

@schedule
def main():
    return risky(3)

if __name__ == "__main__":
    print(main())
