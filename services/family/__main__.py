import sys

from iopnet.runtime import main
from services.family.service import SPEC

sys.exit(main(SPEC))
