"""Pass: barriers at the statements whose meaning depends on what ran before.

- before `try` and `with`: a task called earlier must fail *outside* the handler,
  as it would sequentially; inside, calls run eagerly (see the calls pass);
- before `import` and `class`: they run code pydron does not see;
- a value bound to a `global`/`nonlocal` name is resolved: other code may read it;
  a `global` store alone is undone if a task called earlier fails, any other
  (a `nonlocal` name, or names in a tuple) waits for those tasks first."""

import ast

from .util import Located, SCOPES, rt, stmt


class Barriers(Located):
    def __init__(self):
        self.outer = []  # names declared global/nonlocal in the current function

    def _function(self, node):
        declared = {}
        todo = list(node.body)
        while todo:  # this function's own scope, not nested ones
            n = todo.pop()
            if isinstance(n, (ast.Global, ast.Nonlocal)):
                declared.update(dict.fromkeys(n.names, type(n).__name__))
            elif not isinstance(n, SCOPES):
                todo.extend(ast.iter_child_nodes(n))
        self.outer.append(declared)
        self.generic_visit(node)
        self.outer.pop()
        return node

    visit_FunctionDef = _function

    def _before(self, node, helper):
        self.generic_visit(node)
        return [stmt(rt(helper)), node]

    def visit_Try(self, node):
        return self._before(node, "barrier")

    visit_TryStar = visit_Try

    def visit_With(self, node):
        return self._before(node, "barrier")

    def visit_Import(self, node):
        return self._before(node, "sync")

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.outer.append({})
        self.generic_visit(node)
        self.outer.pop()
        return [stmt(rt("sync")), node]

    def visit_Assign(self, node):
        self.generic_visit(node)
        declared = self.outer[-1] if self.outer else {}
        names = [t.id for t in node.targets if isinstance(t, ast.Name) and t.id in declared]
        if len(node.targets) == 1 and names and declared[names[0]] == "Global":
            # Resolved, and undone if a task called earlier fails.
            globs = ast.Call(func=ast.Name(id="globals", ctx=ast.Load()), args=[], keywords=[])
            node.value = rt("gstore", globs, ast.Constant(value=names[0]), node.value)
        elif any(isinstance(n, ast.Name) and n.id in declared for t in node.targets for n in ast.walk(t)):
            # a cell (or a global among other targets): resolved, after the
            # tasks called before (nothing puts a cell back if one fails)
            node.value = rt("ostore", node.value)
        return node


def insert_barriers(tree):
    return Barriers().visit(tree)
