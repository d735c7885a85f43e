from iaspipe.migrations import run
from services.portal.adapters.orm import Base

run(Base.metadata)
