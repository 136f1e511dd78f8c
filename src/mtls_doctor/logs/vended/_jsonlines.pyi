# The compiled JSON-lines converter (_jsonlines.c); see jsonl.py for how its output is used.
# convert() -> (the legacy lines, one per input line, each ended by "\n";
#               the indexes of the lines it declined, left empty for Python to convert)
def convert(data: bytes | memoryview, /) -> tuple[bytes, list[int]]: ...
