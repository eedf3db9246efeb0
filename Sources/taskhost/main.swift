import TaskHostCore
import ArgumentParser
import Logging
print("t")
