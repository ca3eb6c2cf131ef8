from pydron import schedule, functional

class MyError(Exception):
    def __init__(self, msg, code):
        super().__init__(msg, code)
        self.msg = msg
        self.code = code

    def __str__(self):
        return self.msg

@functional
def fail(x):
    e = ValueError("plain")
    raise MyError("bad thing", x * 10)

@functional
def fail_attr(x):
    e = LookupError("with attribute")
    e.detail = {"x": x}
    raise e

@schedule
def main():
    out = []
    try:
        fail(4)
    except MyError as e:
        out.append((str(e), e.code, type(e).__name__))
    try:
        fail_attr(5)
    except LookupError as e:
        out.append((str(e), e.detail))
    return out

if __name__ == "__main__":
    print(main())
