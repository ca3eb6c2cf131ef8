from pydron import schedule, functional

@functional
def fail():
    raise LookupError("nope")

@schedule
def main():
    try:
        fail()
    finally:
        print("cleanup")

if __name__ == "__main__":
    main()
