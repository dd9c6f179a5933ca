"""`legatura demo`: generated exports for every channel (generate.py), the whole pipeline on them with a local
SMTP sink (run.py, mail_sink.py), and a summary of where to look."""
from legatura.flows.demo.generate import BROKEN_RECORDS, CHANNELS, generate_demo_data
from legatura.flows.demo.run import DemoResult, run_demo
from legatura.flows.demo.workdir import DemoError

__all__ = ["BROKEN_RECORDS", "CHANNELS", "DemoError", "DemoResult", "generate_demo_data", "run_demo"]
