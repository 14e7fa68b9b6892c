"""Docstring text shared by several functions, written once.

    _ARGS = '''labels: `[B]` integer class labels.
    embeddings: `[B, D]` embeddings.'''

    @fill_doc(batch_args=_ARGS)
    def loss(labels, embeddings):
        '''Summary.

        Args:
            {batch_args}
            margin: ...
        '''

A line holding only `{key}` is replaced by the text of `key`, each of its
lines indented like the placeholder (continuation lines keep their own
extra indentation), so `help()` and the rendered docs read as if the text
were written in place.
"""


def fill_doc(**snippets):
    """Decorator filling `{key}` lines of the docstring with `snippets[key]`.

    Raises:
        ValueError: when a snippet's placeholder line is missing, or the
            docstring holds a placeholder no snippet fills.
    """

    def decorate(obj):
        lines = (obj.__doc__ or "").split("\n")
        out = []
        used = set()
        for line in lines:
            key = line.strip()
            if key.startswith("{") and key.endswith("}"):
                name = key[1:-1]
                if name not in snippets:
                    raise ValueError(f"{obj.__name__}'s docstring has "
                                     f"{key} but no snippet fills it. "
                                     f"Received: snippets={sorted(snippets)}")
                indent = line[:len(line) - len(line.lstrip())]
                out += [indent + text if text else ""
                        for text in snippets[name].split("\n")]
                used.add(name)
            else:
                out.append(line)
        missing = sorted(set(snippets) - used)
        if missing:
            raise ValueError(f"{obj.__name__}'s docstring has no line for "
                             f"{missing}. Received: snippets="
                             f"{sorted(snippets)}")
        obj.__doc__ = "\n".join(out)
        return obj

    return decorate
