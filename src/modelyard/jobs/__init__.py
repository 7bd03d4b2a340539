"""Jobs: commands run as sandboxed processes, in the Hub's Jobs API (spec.py: what a client sends and reads back;
manager.py: the queue, the runs, their logs and metrics; schedule.py: cron schedules). Training recipes
(modelyard.training) run as jobs."""
