"""Oracle for InstructionRulesTest: the Self-Instruct and Alpaca instruction rules as the reference
Python code states them (re, str.split, str.capitalize, string.punctuation, str.isascii), written
from the published rules. It turns a list of texts into the decisions the Java rules must reproduce.

usage: python3 reference_rules.py self-instruct|alpaca < texts.jsonl > decisions.jsonl
  input lines:  {"text": "..."} (other fields are copied through)
  output lines: the input object plus "decision": "kept" or a reason code
"""
import json
import re
import string
import sys

SELF_INSTRUCT_WORDS = ["image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
                       "map", "maps", "draw", "plot", "go to"]
ALPACA_WORDS = SELF_INSTRUCT_WORDS + ["video", "audio", "music", "flowchart", "diagram"]


def has_word(word, text):
    return re.compile(r"\b({0})\b".format(word), flags=re.IGNORECASE).search(text) is not None


def decide(text, preset):
    if preset == "self-instruct":
        inst = re.sub(r"\s+", " ", text).strip()
        inst = inst.strip().capitalize()
        words, prefix = SELF_INSTRUCT_WORDS, "Write a program"
    else:
        inst = text.strip()
        words, prefix = ALPACA_WORDS, "Write a program"
    if inst == "":
        return "instruction_empty.blank"
    n = len(inst.split())
    if n <= 3:
        return "instruction_words.too_few"
    if n > 150:
        return "instruction_words.too_many"
    if any(has_word(w, inst) for w in words):
        return "blocked_word.found"
    if inst.startswith(prefix):
        return "write_a_program.prefix"
    if inst[0] in string.punctuation:
        return "first_character.punctuation"
    if not inst[0].isascii():
        return "first_character.non_ascii"
    return "kept"


def main():
    preset = sys.argv[1]
    for line in sys.stdin:
        if not line.strip():
            continue
        obj = json.loads(line)
        obj["decision"] = decide(obj["text"], preset)
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
