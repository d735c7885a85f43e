from iaspipe.migrations import run
from services.cpias.adapters.orm import Base

run(Base.metadata)
