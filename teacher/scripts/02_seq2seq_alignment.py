from author import answer, check, code, md

CELLS = [
    md("""
        # 02 · Sequence to sequence: attention as alignment

        **Goal.** By the end of this notebook you know how an encoder-decoder turns one sequence
        into another, with and without attention; you can compute additive (Bahdanau) attention by
        hand; you can read an **alignment matrix** and measure how well it lines up with the input;
        and you know, with numbers measured here, when attention is needed and when it is not.

        The models are small character-level GRU networks trained for this course on data the
        package generates; their weights ship in `data/`, so nothing is trained or downloaded
        here. Cells marked *Exercise* are yours; the cell after each one checks your answer.
    """),
    code("""
        import datetime as dt

        import torch

        import attnwidgets as aw
        from attnwidgets.course import seq2seq

        torch.set_num_threads(1)  # the models are tiny: one thread is as fast, and fair on a shared machine
    """),
    md("""
        ## 1. The task: dates as people write them

        People write the same day in many ways: *3 March 1998*, *Mar 3, 1998*, *Tuesday the 3rd of
        March, 1998*, *THE 3RD OF MARCH 1998*. The model's job is to turn each into the ISO form
        `1998-03-03`. The package generates such dates (years 1950-2049) in these written forms,
        with any letter case and with or without commas:
    """),
    code("""
        for form, example in seq2seq.FORMS.items():
            print(f"{form:30s} {example}")
    """),
    md("""
        Because the generator writes the text itself, it knows which characters carry the year,
        the month and the day: `spans` holds each field's `(start, stop)` in the text. We will use
        this later to check whether the model looks where it should. (About one calendar date in
        ten is never used in training; every accuracy below is measured on those dates.)
    """),
    code("""
        for ex in seq2seq.random_dates(5, seed=3):
            fields = ", ".join(f"{f}={ex.text[a:b]!r}" for f, (a, b) in ex.spans.items())
            print(f"{ex.text:34s} -> {ex.iso}   {fields}")
    """),
    md("""
        ## 2. Encoder, decoder, and what attention adds

        The **encoder** reads the input characters with a bidirectional GRU and leaves one state
        $h_j$ per character (forward and backward halves side by side). The **decoder** writes the
        output one character at a time; its state $s_t$ is updated from the previous output
        character and a **context** vector $c_t$.

        - *Without attention* (Cho et al. 2014) the context is the same at every step: the
          encoder's two final states. Everything the decoder knows about the input must pass
          through that one fixed-size vector.
        - *With attention* (Bahdanau et al. 2015) every step builds its own context as a weighted
          average of all the encoder states. The weights come from a small network that scores
          how useful each $h_j$ is, given where the decoder is now:

        $$e_{tj} = v^\\top \\tanh(W s_{t-1} + U h_j + b), \\qquad \\alpha_{tj} = \\operatorname{softmax}_j(e_{tj}), \\qquad c_t = \\sum_j \\alpha_{tj} h_j$$

        This score is called **additive**. Luong et al. (2015) proposed cheaper multiplicative
        scores, e.g. "general": $e_{tj} = s_{t-1}^\\top W h_j$. The models below differ only in this
        score (or its absence); everything else is the same.
    """),
    code("""
        names = ["dates-bahdanau", "dates-luong", "dates-none", "dates-none-wide"]
        date_models = {name: aw.load_model(name)[0] for name in names}
        for name, model in date_models.items():
            print(f"{name:16s} {seq2seq.describe(model)}")
    """),
    md("""
        `translate` runs the decoder greedily (each step takes its most likely character) on a batch:
    """),
    code("""
        bahdanau = date_models["dates-bahdanau"]
        inputs = ["3 March 1998", "the 21st of july 1969", "FRI, OCT 13, 2023", "2049-12-31"]
        for text, iso in zip(inputs, seq2seq.translate(bahdanau, inputs)):
            print(f"{text:24s} -> {iso}")
    """),
    md("""
        ### Exercise 1: additive attention by hand

        Write `additive_weights(s, H, W, U, b, v)`: given a decoder state `s` `[3]`, encoder states
        `H` `[5, 4]` (one row per source character), `W` `[2, 3]`, `U` `[2, 4]`, `b` `[2]` and `v`
        `[2]`, return the attention weights $\\alpha_j$ over the 5 source positions (a tensor `[5]`).
        Tensors to try it on: `seq2seq.exercise_tensors()`.
    """),
    answer("ex1", '''
        def additive_weights(s, H, W, U, b, v):
            """softmax over j of v . tanh(W s + U h_j + b)."""
            ### BEGIN SOLUTION
            scores = torch.tanh(H @ U.T + b + W @ s) @ v    # [5, 2] + [2] + [2] -> [5, 2] -> [5]
            return torch.softmax(scores, dim=0)
            ### END SOLUTION
            raise NotImplementedError("write the body of additive_weights above")
    '''),
    check("ex1", "seq2seq.check_additive(additive_weights)", hidden="assert seq2seq.check_additive(additive_weights)"),
    md("""
        ## 3. Where does the decoder look?

        Collect $\\alpha_{tj}$ for every output character $t$ and you get the **alignment matrix**:
        output characters down, input characters across, each row summing to 1.
        `seq2seq.attention_record` returns it as a cross-attention `AttentionRecord` (queries are
        the output characters, keys the input characters; a space shows as ·), ready for
        `aw.AlignmentView`, whose step slider replays the decoding one character at a time.
    """),
    code("""
        example = seq2seq.write_date(dt.date(1998, 3, 3), "weekday the day-th of month", case="title")
        record = seq2seq.attention_record(bahdanau, example.text, name="dates-bahdanau")
        print(example.text, "->", "".join(record.query_tokens), "  ", record)
    """),
    md("""
        ### Predict first

        The output is `1998-03-03`. Think about the month digits `03`: where in *Tuesday the 3rd
        of March 1998* should they look? Commit to a guess; the alignment view appears after you
        lock it in.
    """),
    code("""
        view = aw.AlignmentView(record, title="dates-bahdanau: " + example.text)
        aw.Predict(
            "When the model writes the month digits '03', most of their attention is on...",
            ["the weekday 'Tuesday'", "the day '3rd'", "the month name 'March'", "the year '1998'", "all characters about equally"],
            answer="the month name 'March'",
            reveal=view,
            explain="Nobody told the model where the month is: it learned to look at 'March' because that is where the answer is. "
                    "Move the step slider (or press play) to watch the focus go from the year to the month to the day. "
                    "The hyphens look nowhere in particular: they are always the same, there is nothing to read.",
        )
    """),
    md("""
        ### Exercise 2: when does it read the month?

        Here is another date. Move the step slider through the output: at which **step** (the
        number the slider shows, 1 to 10; step $k$ is the decoding of output character $k$) does
        the model put the **most** attention on the month name *July*? You can also compute it
        from `record2.weights[0, 0]` (rows: output characters, columns: input characters) and
        `example2.spans["month"]`.
    """),
    code("""
        example2 = seq2seq.write_date(dt.date(1969, 7, 20), "weekday, day month year", case="title")
        record2 = seq2seq.attention_record(bahdanau, example2.text, name="dates-bahdanau")
        aw.AlignmentView(record2, step=1, title="dates-bahdanau: " + example2.text)
    """),
    answer("ex2", '''
        month_step = None   # a step number, 1 to 10
        ### BEGIN SOLUTION
        start, stop = example2.spans["month"]
        month_step = int(record2.weights[0, 0][:, start:stop].sum(1).argmax()) + 1
        ### END SOLUTION
    '''),
    check("ex2", "seq2seq.check_month_step(month_step, record2, example2)", hidden="assert seq2seq.check_month_step(month_step, record2, example2)"),
    md("""
        ## 4. Measuring the alignment

        A picture of one date is an anecdote. To measure, take every held-out date the model gets
        right, and for each field (year, month, day) ask: what share of the attention of that
        field's output digits falls on the field's own input characters? Call it the field's
        **alignment precision**: 1.0 means the digits read only their own field; attention spread
        evenly over the input would give the field's share of the characters ("uniform spread"
        below).

        ### Exercise 3: alignment precision

        Write `precision(weights, rows, start, stop)`: `weights` is a `[T, S]` NumPy alignment
        matrix, `rows` the output positions of one field (e.g. `[5, 6]` for the month), and the
        field's input characters are columns `start` to `stop - 1`. Return the share of each row's
        attention on those columns, averaged over the rows (one float).
    """),
    answer("ex3", '''
        def precision(weights, rows, start, stop):
            """Mean over the given rows of the attention that falls on columns start:stop."""
            ### BEGIN SOLUTION
            return float(weights[rows, start:stop].sum(axis=1).mean())
            ### END SOLUTION
            raise NotImplementedError("write the body of precision above")
    '''),
    check("ex3", "seq2seq.check_precision(precision)", hidden="assert seq2seq.check_precision(precision)"),
    md("""
        Now over a fresh test set: 200 dates of every written form, all of them dates the models
        never saw in training (a few seconds).
    """),
    code("""
        test = seq2seq.test_dates(200, seed=2026)
        reports = {name: seq2seq.evaluate_dates(model, test) for name, model in date_models.items()}
        print(seq2seq.precision_table(reports))
    """),
    md("""
        The attention lines up with the fields, far above an even spread, but not perfectly, and
        the gaps are instructive. The *last* digit of each field reads its own characters almost
        exclusively. The *first* month or day digit also looks at neighbours: the space or the
        ordinal suffix after a day tells a one-digit day (`3` -> `03`) from a two-digit one, so it
        is worth reading. And the first two year digits can be inferred from the third (19 before
        5-9, 20 before 0-4), so a model may look at them less: compare the two models' year
        digits. Attention shows what the decoder *read*; it is not a full account of what the
        model computed (each encoder state $h_j$ already mixes in its neighbours).

        ## 5. Does it work? Accuracy on every written form

        Exact match (all 10 characters right) per form, on the same held-out test set:
    """),
    code("""
        print(seq2seq.form_table({name: r["accuracy_by_form"] for name, r in reports.items()}))
    """),
    md("""
        The attention model is right on every form. The same-sized model without attention is
        far worse, but a wider one without attention (more than five times the parameters) also
        gets nearly everything right: **the dates task does not show that attention is needed**.
        A date is short, and a big enough fixed-size vector can hold all of it. What attention buys
        here is a small model and a readable alignment. The training curves (read from each model's
        `training.json`; the models were trained with `python -m attnwidgets.course.seq2seq train
        <name>`, 2000 steps of 64 fresh dates):
    """),
    code("""
        seq2seq.plot_training(names);
    """),
    md("""
        ## 6. Your own date

        Type a date in your own words and press Enter: the model's ISO output, whether it is right
        (the package's rule-based reader knows the forms), and the alignment. Try a form it never
        saw (*1998 March 3rd*), a wrong weekday, a two-digit year (*3 Mar 98*), or a character it
        does not know (*3/3/1998*).
    """),
    code("""
        seq2seq.DateBox(bahdanau, value="Tuesday the 3rd of March, 1998")
    """),
    md("""
        ## 7. Long inputs: where attention is needed

        The seed note claims attention helps with **long-range dependencies**. To test that, we need
        a task where the decoder must recover detail from far back in a long input: reverse a
        string of digits. The first output digit is the *last* input digit, and every digit
        matters. Without attention, all of a 60-digit string must pass through the encoder's final
        states; with attention, the decoder can look each digit up.

        Two models, identical except for attention (embeddings 16, encoder 64 per direction,
        decoder 128), were trained on strings of length 5 to 60 with the same budget: the same
        number of steps of 64 strings each, the same strings in the same order, the same learning
        rate (constant, then decaying over the last 30% of the steps). The attention model's steps
        cost about twice as much time: the times below were measured on a machine shared with
        other jobs. Evaluated here on held-out strings of each length (a few seconds):
    """),
    code("""
        reverse_models = {name: aw.load_model(name)[0] for name in ["reverse-bahdanau", "reverse-none"]}
        strings = seq2seq.reverse_test_set(per_length=30, lengths=range(5, 61, 5), seed=2026)
        by_length = {name: seq2seq.accuracy_by_length(model, strings) for name, model in reverse_models.items()}
        for name, result in by_length.items():
            info = seq2seq.training_info(name)
            buckets = ", ".join(f"{k}: {100 * v:.0f}%" for k, v in seq2seq.bucket_accuracy(result).items())
            print(f"{name:17s} {info['parameters']:,} parameters, {info['settings']['steps']} steps in {info['seconds']:.0f} s  |  {buckets}")
        seq2seq.plot_accuracy_by_length({"with attention (Bahdanau)": by_length["reverse-bahdanau"], "without attention": by_length["reverse-none"]});
    """),
    md("""
        Without attention the model copes with short strings and collapses as they grow; with
        attention, length hardly matters. Its alignment shows why: each output digit reads exactly
        one input digit, the mirror image of its position (an anti-diagonal).
    """),
    code("""
        digits = strings[25][0]
        aw.AlignmentView(seq2seq.attention_record(reverse_models["reverse-bahdanau"], digits), title=f"reversing {digits}")
    """),
    md("""
        ## 8. Luong vs Bahdanau, briefly

        The "general" multiplicative score $s^\\top W h_j$ needs no hidden layer and no tanh: one
        matrix product per step. (Luong et al. also move the attention after the decoder's update
        and add an extra layer; here only the score differs, so the comparison isolates it.) On the
        same held-out dates:
    """),
    code("""
        for name in ["dates-bahdanau", "dates-luong"]:
            acc, p = reports[name]["accuracy_by_form"], reports[name]["alignment_precision"]
            worst = min((v, k) for k, v in acc.items() if k != "all")
            print(f"{name:15s} {seq2seq.n_parameters(date_models[name]):,} parameters | exact match {100 * acc['all']:.2f}% "
                  f"(worst form: {worst[1]}, {100 * worst[0]:.1f}%) | precision year {p['year']:.2f}, month {p['month']:.2f}, day {p['day']:.2f}")
    """),
    md("""
        Both scores learn the task; they differ in *how* they spread attention, which is a reminder
        that two models with the same accuracy can look at their input differently. Alignment is a
        property of a trained model, not of the task.

        ## Summary

        - An encoder-decoder without attention squeezes the input into one vector; attention lets
          every output step take its own weighted average of all the encoder states.
        - Additive (Bahdanau) scores: $v^\\top \\tanh(W s + U h_j + b)$; Luong's general score:
          $s^\\top W h_j$.
        - The alignment matrix of a trained model lines up with the input fields, measurably but
          not perfectly.
        - Attention was *not* needed for short dates (a wide model without it learns them), but it
          was for long digit strings. The numbers this notebook measured:
    """),
    code("""
        acc = reports["dates-bahdanau"]["accuracy_by_form"]
        print(f"dates, held-out, attention model: {100 * acc['all']:.1f}% overall, worst form {100 * min(acc.values()):.1f}% ({len(acc) - 1} forms)")
        for name in ["dates-luong", "dates-none", "dates-none-wide"]:
            print(f"dates, held-out, {name}: {100 * reports[name]['accuracy_by_form']['all']:.1f}% ({seq2seq.n_parameters(date_models[name]):,} parameters)")
        p = reports["dates-bahdanau"]["alignment_precision"]
        print(f"alignment precision (Bahdanau): year {p['year']:.2f}, month {p['month']:.2f}, day {p['day']:.2f}")
        for name, result in by_length.items():
            print(f"reversing, {name}: " + ", ".join(f"length {k}: {100 * v:.0f}%" for k, v in seq2seq.bucket_accuracy(result).items()))
    """),
]
