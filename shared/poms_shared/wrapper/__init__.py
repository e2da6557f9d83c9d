"""The jobsub wrapper and poms-run-script: POMS bookkeeping around a submission."""
