import sys

from iopnet.runtime import main
from services.sessions.service import SPEC

sys.exit(main(SPEC))
