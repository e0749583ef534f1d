NO_PACKAGE_CODE = (
    "the exercises (input injection, LoRA linear, one SUBLEQ step) are the learner's own small functions; the "
    "package's looped model and SUBLEQ interpreter take other signatures and are tested in tests/theory/"
)
MUTATIONS = []
