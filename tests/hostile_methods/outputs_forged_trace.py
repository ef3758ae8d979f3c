"""Attack: log evaluation events claiming accuracy 1.0 from the first LLM call on, to draw any
curve in the report's accuracy-against-calls figure and any train accuracy in job.json.
Expected: summary.csv holds the host's own accuracies of the real program; the report shows the
trace's curve only as the method's own log."""


def run(task):
    from runners.null import PROGRAM

    for _ in range(5):
        task.trace.write("evaluation", accuracy=1.0, llm_calls=0, n_errors=0)
    return PROGRAM
