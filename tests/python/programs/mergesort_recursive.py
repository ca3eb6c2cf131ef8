from pydron import schedule, functional

@functional
def merge(a, b):
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            out.append(a[i]); i += 1
        else:
            out.append(b[j]); j += 1
    return out + a[i:] + b[j:]

@functional
def small_sort(xs):
    return sorted(xs)

@schedule
def msort(xs):
    if len(xs) <= 4:
        return small_sort(xs)
    mid = len(xs) // 2
    return merge(msort(xs[:mid]), msort(xs[mid:]))

if __name__ == "__main__":
    import random
    random.seed(1)
    data = [random.randint(0, 999) for _ in range(60)]
    print(msort(data) == sorted(data), msort(data)[:10])
