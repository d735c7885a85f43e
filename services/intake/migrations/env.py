from iaspipe.migrations import run
from services.intake.adapters.orm import Base

run(Base.metadata)
