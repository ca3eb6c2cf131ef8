from pydron import schedule, functional

import time

# A method of a class of the script reads a module-level setting, the task
# reads a class attribute; the task runs late (it waits for a slow input),
# after the driver changed them.
THRESHOLD = 0.5

class Rule:
    weight = 2

    def passes(self, x):
        return x > THRESHOLD

@functional
def slow(x):
    time.sleep(0.3)
    return x

@functional
def judge(x):
    return Rule().passes(x), Rule.weight

@schedule
def main():
    global THRESHOLD
    r = [judge(slow(0.7))]
    THRESHOLD = 0.9
    Rule.weight = 3
    r.append(judge(slow(0.7)))
    THRESHOLD = 0.1
    return r

if __name__ == "__main__":
    print(main())
