from iaspipe.migrations import run
from services.notifier.adapters.orm import Base

run(Base.metadata)
