import sys

from iopnet.runtime import main
from services.plans.service import SPEC

sys.exit(main(SPEC))
