from pydron import schedule, functional

def make(k):
    @functional
    def scale(x):
        return x * k
    return scale

@schedule
def main():
    s3 = make(3)
    return [s3(i) for i in range(4)]

if __name__ == "__main__":
    print(main())
