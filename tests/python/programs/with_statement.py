from pydron import schedule, functional

class Ctx:
    def __init__(self, log, name):
        self.log, self.name = log, name
    def __enter__(self):
        self.log.append("enter " + self.name)
        return self
    def __exit__(self, *exc):
        self.log.append(("exit", self.name, exc[0].__name__ if exc[0] else None))
        return exc[0] is KeyError

@functional
def work(x):
    if x < 0:
        raise KeyError(x)
    return x + 100

@schedule
def main():
    log = []
    with Ctx(log, "a") as c:
        log.append(work(1))
    with Ctx(log, "b"), Ctx(log, "c"):
        log.append(work(-1))
    return log

if __name__ == "__main__":
    print(main())
