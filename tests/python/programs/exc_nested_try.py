from pydron import schedule, functional

@functional
def sq(x):
    return x * x

@functional
def add(a, b):
    return a + b

@functional
def fail(msg):
    raise ValueError(msg)

@functional
def ident(x):
    return x

@schedule
def main():
    out = []
    try:
        try:
            fail("inner")
        except KeyError:
            out.append("wrong handler")
        finally:
            out.append("inner finally")
    except ValueError as e:
        out.append(("outer caught", str(e)))
    return out

if __name__ == "__main__":
    print(main())
