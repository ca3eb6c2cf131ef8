from pydron import schedule, functional

@schedule
def forever(n):
    return forever(n + 1)

if __name__ == "__main__":
    import sys
    sys.setrecursionlimit(200)
    try:
        forever(0)
    except RecursionError:
        print("RecursionError")
