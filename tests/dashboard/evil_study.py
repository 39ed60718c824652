"""A store whose study, problem and surrogate labels (and an error) hold HTML: the pages must
show them as text."""

import dataclasses

#: labels no study file accepts, but a store written by other means may hold
EVIL_STUDY = '<script>window.__xss = "study"</script>'
EVIL_SURROGATE = '<script>window.__xss = "surrogate"</script><b>gp'
EVIL_PROBLEM = '<img src=x onerror="window.__xss=1">'


def write_evil_study(url: str) -> None:
    """One study with HTML in its name and labels, written through the Store like a real run."""
    from bnnbo.storage import Store
    from bnnbo.study import RunSpec, Study

    with Store(url) as store:
        sid = store.save_study(Study(name=EVIL_STUDY, seeds=(0,), problems=(), surrogates=()))
        spec = RunSpec(
            study=EVIL_STUDY,
            problem=EVIL_PROBLEM,
            problem_name="branin",
            surrogate=EVIL_SURROGATE,
            surrogate_name="gp",
            seed=0,
            n_init=2,
            q=1,
            iterations=1,
        )
        for seed in (0, 1):  # seed 0 finishes, seed 1 fails with HTML in its error
            run = store.add_run(sid, dataclasses.replace(spec, seed=seed))
            for i in range(3 - seed):
                store.commit_step(
                    run.id,
                    [
                        {
                            "index": i,
                            "batch": i,
                            "x": [0.1, 0.2],
                            "y": [-float(10 - i)],
                            "initial": i < 2,
                            "fit_seconds": 0.1,
                            "acq_seconds": 0.1,
                            "diagnostics": {} if i < 2 else {"acceptance": 0.8},
                        }
                    ],
                    None,
                    None,
                    "finished" if i == 2 else "running",
                )
        store.set_status(run.id, "failed", f"ValueError: {EVIL_SURROGATE}", f"Traceback\n{EVIL_STUDY}")
