"""python -m training with v15's masked setting (mask_next_beat=True, aug_tail_mask_prob=0.3); exploration.

    python -m training.experiments.session7_train_masked --validation-records R... --out /tmp/fCm --data-dir ../shared/data/mitdb

Session 7 exploration (rules written before the runs: model card); not part of the product.
"""
import sys
from dataclasses import replace

import training.__main__ as tm
orig = tm.config_for
tm.config_for = lambda args: replace(orig(args), mask_next_beat=True, aug_tail_mask_prob=0.3)
sys.exit(tm.main(sys.argv[1:]))
