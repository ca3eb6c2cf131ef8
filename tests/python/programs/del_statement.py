from pydron import schedule, functional

@functional
def mk(n):
    return {i: i * i for i in range(n)}

@schedule
def main():
    d = mk(5)
    del d[2]
    lst = [mk(1), mk(2), mk(3)]
    del lst[0]
    x = mk(0)
    del x
    class O:
        pass
    o = O()
    o.a = mk(1)
    del o.a
    return d, lst, hasattr(o, "a")

if __name__ == "__main__":
    print(main())
