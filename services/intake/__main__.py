import sys

from iopnet.runtime import main
from services.intake.service import SPEC

sys.exit(main(SPEC))
