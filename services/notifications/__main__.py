import sys

from iopnet.runtime import main
from services.notifications.service import SPEC

sys.exit(main(SPEC))
