from pydron import schedule, functional

# The settings are read by helper functions the task calls (one of them
# through a lambda kept in a global table), not by the task itself.
THRESHOLD = 0.5
LIMITS = {"hi": 10}

def clip(x):
    return min(x, LIMITS["hi"])

def passes(x):
    return x > THRESHOLD

RULES = {"pass": lambda x: passes(x)}

@functional
def judge(x):
    return RULES["pass"](x), clip(x * 10)

@schedule
def main():
    global THRESHOLD
    r = [judge(0.7)]
    THRESHOLD = 0.9
    LIMITS["hi"] = 3
    r.append(judge(0.7))
    return r

if __name__ == "__main__":
    print(main())
    THRESHOLD = 0.6
    LIMITS["hi"] = 100
    print(judge(0.7), main())
