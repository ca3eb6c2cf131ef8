from pydron import schedule, functional

@functional
def leaf_value(path):
    return len(path) * 10 + path.count("L")

@schedule
def walk(path, depth):
    if depth == 0:
        return leaf_value(path)
    return walk(path + "L", depth - 1) + walk(path + "R", depth - 1)

if __name__ == "__main__":
    print(walk("", 6))
