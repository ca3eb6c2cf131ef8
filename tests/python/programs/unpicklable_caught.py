import pickle
import threading

from pydron import schedule, functional

@functional
def use(x):
    return len(pickle.dumps(x)) > 0

@schedule
def main():
    try:
        use(threading.Lock())
    except TypeError:
        print("TypeError at the call")
    out = [use(i) for i in range(3)]
    try:
        out.append(use(0) and use(threading.Lock()))
    except TypeError:
        print("TypeError again")
    return out

if __name__ == "__main__":
    print(main())
