"""labald's simulator from a checkout, without installing: `python run.py` is `labald run`.

    python run.py method=ss dataset=commodity
    python run.py -m method=ss,la_bald dataset=digits seed=0,1

The entry point, its checks and where the Hydra configs are found: labald/cli/run.py.
"""

if __name__ == "__main__":
    import os
    from pathlib import Path

    # sweep jobs started as new processes (hydra/launcher=submitit_*) import this checkout's labald too
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent),
                                                             os.environ.get("PYTHONPATH")]))
    from labald.cli.run import main

    main()
