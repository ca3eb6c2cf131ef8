from pydron import schedule, functional

@functional
def bias(img):
    return sum(img) / len(img)

@functional
def calibrate(img, b):
    return [round(p - b, 2) for p in img]

@schedule
def main(images):
    def process(img):
        b = bias(img)
        return calibrate(img, b)
    out = []
    for img in images:
        out.append(process(img))
    by_key = sorted(range(len(images)), key=lambda i: process(images[i])[0])
    return out, by_key

if __name__ == "__main__":
    print(main([[1, 2, 3], [4, 6, 8], [0, 0, 9]]))
