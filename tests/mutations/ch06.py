NO_PACKAGE_CODE = (
    "the exercises (one arithmetic reduction, the parity scratchpad, one LIS step, the answer parser) are the "
    "learner's own functions; the package's CoT tasks generate data with other signatures (tests/tasks/test_cot.py)"
)
MUTATIONS = []
