from pydron import schedule, functional

@functional
def check(x):
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x

@schedule
def main():
    log = []
    for x in [1, -1]:
        try:
            v = check(x)
        except ValueError as e:
            log.append(("err", str(e)))
        else:
            log.append(("ok", v))
        finally:
            log.append("finally")
    return log

if __name__ == "__main__":
    print(main())
