from pydron import schedule, functional

@functional
def measure_bias(raw):
    return sum(raw) / len(raw)

@functional
def measure_ft(raw):
    return max(raw) - min(raw)

@functional
def calibrate(raw, bias, ft):
    return [round((x - bias) / (ft or 1), 3) for x in raw]

@schedule
def main(raw_images):
    calibrated = []
    for raw in raw_images:
        calibrated.append(calibrate(raw, measure_bias(raw), measure_ft(raw)))
    return calibrated

if __name__ == "__main__":
    images = [[i, i * 2, i * 3 + 1] for i in range(12)]
    print(main(images))
