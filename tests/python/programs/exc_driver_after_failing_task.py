from pydron import schedule, functional

@functional
def boom():
    raise ValueError("from the task")

@schedule
def main():
    x = boom()
    y = 1 / 0
    return x, y

if __name__ == "__main__":
    main()
