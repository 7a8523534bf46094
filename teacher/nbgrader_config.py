"""nbgrader's settings for the course (teacher/ is the nbgrader course directory).

source/<name>/<name>.ipynb   the masters, with solutions and hidden tests (built by author.py)
release/<name>/              what `nbgrader generate_assignment` makes (copied to notebooks/)
submitted/<student>/<name>/  students' notebooks to grade; autograded/ and the database follow
"""

c = get_config()  # noqa: F821 (nbgrader's config loader defines it)

c.CourseDirectory.root = __file__.rsplit("/", 1)[0]
c.CourseDirectory.course_id = "attnwidgets"
# The release keeps "# YOUR CODE HERE" but no `raise NotImplementedError()`: an unanswered
# exercise must not stop Run All (each answer cell starts from None, or a function whose last
# line raises NotImplementedError, which the check reads as "not answered yet").
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE"}
c.ClearSolutions.enforce_metadata = True
# The course's notebooks train and measure: give a cell more than the default 30 s.
c.Execute.timeout = 600
c.ExecutePreprocessor.timeout = 600
