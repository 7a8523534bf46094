from author import answer, check, code, md

CELLS = [
    md("""
        # 05 · GPT attention: causal masks, generation, and the heads that copy

        **Goal.** By the end of this notebook you can

        - say why a decoder's attention weights are exactly zero above the diagonal, and check it;
        - step through a generation and see what each new token was written from;
        - find **induction heads** in a real language model by measuring every head, name the
          **previous-token heads** that feed them, and show that removing the induction heads
          (and not other heads) breaks in-context copying: from correlation to cause;
        - watch induction heads form while a tiny model trains, and read their score knowing its
          ceiling;
        - explain **attention sinks** (the first token soaking up attention) and **grouped-query
          attention** (several query heads sharing one key/value head), with their numbers.

        The model is **SmolLM2-135M** (`aw.load_model("smollm2")`): a LLaMA-style decoder with 30
        layers of 9 heads, shipped inside a pip package, so everything runs offline. One cell runs
        the induction survey on GPT-2 if you have the Hugging Face hub. The tiny model of section 7
        was trained by this course (`python -m attnwidgets.course.induction train --seed 0`).

        Run the cells from top to bottom (Shift+Enter). Cells marked *Exercise* are yours; the cell
        after each one checks your answer and tells you what to fix.
    """),
    code("""
        %matplotlib inline
        import gc
        import time

        import numpy as np
        import torch
        import transformers
        from IPython.display import display

        import attnwidgets as aw
        from attnwidgets import analysis
        from attnwidgets.ablation import ablate_heads
        from attnwidgets.course import induction

        transformers.logging.disable_progress_bar()  # no weight-loading bars in the outputs
        torch.set_num_threads(1)  # Binder has one core; on a shared machine, two threads wait on each other
        start = time.perf_counter()
        model, tokenizer = aw.load_model("smollm2")
        print(f"SmolLM2 loaded in {time.perf_counter() - start:.1f} s:", model.config.num_hidden_layers, "layers,",
              model.config.num_attention_heads, "query heads,", model.config.num_key_value_heads, "key/value heads")
    """),
    md("""
        ## 1. Causal attention: no peeking at later tokens

        A decoder is trained to predict the next token, so a token must never see the tokens after
        it. Before the softmax, every score from query *i* to a key *j > i* is set to −∞; the
        softmax turns −∞ into exactly 0. So the weights above the diagonal are not small: they
        are zero. Let's capture a sentence and check every layer and head.
    """),
    code("""
        text = "The cat sat on the mat because it was warm. Later the dog came in, looked around, and lay down next to the cat."
        record = aw.capture(model, tokenizer, text)
        print(record)
        print("kind:", record.kind)
        print("largest weight on a later token, over all", record.n_layers * record.n_heads, "heads:", induction.upper_triangle_max(record))
        print("row sums (first head, first 5 rows):", record.matrix(0, 0).sum(-1)[:5].round(6))
    """),
    md("""
        The first row has one weight, 1.0 on the token itself: the first token can only attend to
        itself. In the heatmap (rows: queries, columns: keys) everything to the right of the
        diagonal is empty. Change layer and head in the view's controls, or hover for the values.
    """),
    code("""
        aw.Heatmap(record, layer=3, head=0, title="SmolLM2, layer 3, head 0")
    """),
    md("""
        ## 2. Generation, one token at a time

        Generating text is a loop: read the text so far, pick the next token (here always the most
        likely: greedy decoding), append it, repeat. At each step only the **last** token's query
        is new; keys and values of earlier tokens are cached. So each step adds one row to the
        attention map. `aw.capture(..., generate=N)` records those rows.

        The prompt below states a code once and asks for it again; the model repeats it. Move the
        **step** slider: the coloured text shows what the token being read attended to (darker:
        more attention) in the chosen layer and head, and which token the model wrote. The view
        opens on layer 18, head 6: at every step its attention sits on the token that followed
        the current one in the first mention of the code, which is exactly the token it writes
        next. Section 3 shows why. Then compare the mean of the heads in layer 0.
    """),
    code("""
        prompt = "The secret code is violet-tiger-917. I repeat, the secret code is"
        generation = aw.capture(model, tokenizer, prompt, generate=8)
        print("prompt:", generation.prompt_length, "tokens; generated:", "".join(generation.meta["generated_tokens"]).replace("Ġ", " ").replace("Ċ", "\\\\n"))
        stepper = induction.GenerationStepper(generation, layer=18, head=6)
        stepper
    """),
    md("""
        ## 3. Finding induction heads, by measurement

        A pattern seen in one picture may be a coincidence. To find heads that do a job, build an
        input where the job is the only way to succeed, and **measure every head**.

        The input: a start token, then 20 random tokens, then the same 20 again. The first copy is
        unpredictable (random words). In the second copy the next token *is* predictable, by one
        rule: find the earlier occurrence of the current token and copy the token that came after
        it. A head that does this, at a token of the second copy, attends to the key right **after**
        that token's earlier occurrence, `period - 1` positions back. Its **induction score** is
        the mean weight on that key over the second copy (1: always, 0: never). A **previous-token
        head** attends to the key one step back (`analysis.offset_score(record, -1)`).
    """),
    code("""
        PERIOD = 20
        survey_ids = induction.repeated_ids(tokenizer, PERIOD, 2, seed=0)  # [2 sequences, 1 + 2 * 20]
        print(tokenizer.decode(survey_ids[0, :8]), "...")
        scores = induction.head_scores(model, tokenizer, survey_ids, PERIOD)
        top_induction = induction.top_heads(scores["induction"], 5)
        top_previous = induction.top_heads(scores["previous"], 5)
        print("strongest induction heads      (layer, head, score):", [(l, h, round(s, 2)) for l, h, s in top_induction])
        print("strongest previous-token heads (layer, head, score):", [(l, h, round(s, 2)) for l, h, s in top_previous])
    """),
    code("""
        induction.score_grids_figure({"induction score": scores["induction"], "previous-token score": scores["previous"]})
    """),
    md("""
        Two small groups stand out. The induction heads sit in the middle of the network (layers
        17-20); the strongest previous-token head sits just before them (layer 16), others at
        layer 11 and at the bottom (layers 1-2). That order is what the mechanism needs: a previous-token head first
        writes "the token before me was A" into each position; later, an induction head at a new
        A looks for the position whose *previous* token was A: that is the token that came after A.

        Before you look at the strongest head, predict.
    """),
    code("""
        L, H, _ = top_induction[0]
        seq = aw.capture(model, tokenizer, survey_ids[:1])
        query = 1 + PERIOD + 7  # the 8th token of the second copy
        print(f"query: position {query}, the token {seq.query_tokens[query]!r} (8th of the second copy; its first occurrence is at position {query - PERIOD})")
        heads_view = aw.HeadView(seq, layer=L, heads=[H], pinned=query, title=f"layer {L}, head {H}")
        heat_view = aw.Heatmap(seq, layer=L, head=H, pinned=query, title=f"layer {L}, head {H}")
        aw.Predict(
            f"Layer {L}, head {H}, reads the 8th token of the second copy (position {query}). Where does most of its attention go?",
            ["to the token just before it (position 27)", "to the same token in the first copy (position 8)",
             "to the token after that one in the first copy (position 9)", "to the first token (position 0)"],
            answer="to the token after that one in the first copy (position 9)",
            reveal=[heads_view, heat_view],
            explain="An induction head looks up the earlier occurrence of its token and attends to what came next, which is the token it predicts. "
                    "In the heatmap the second copy's rows light up a stripe period - 1 = 19 columns left of the diagonal.",
        )
    """),
    md("""
        **Does the model copy?** Next-token accuracy (greedy) on the first copy and on the second
        copy, over 4 fresh sequences:
    """),
    code("""
        accuracy_ids = induction.repeated_ids(tokenizer, PERIOD, 4, seed=1)
        accuracy = induction.copy_accuracy(model, accuracy_ids, PERIOD)
        print(f"first copy:  {accuracy['first_copy']:.2f}   (random tokens: nothing to predict)")
        print(f"second copy: {accuracy['second_copy']:.2f}   (the same tokens, seen once {PERIOD} positions earlier)")
    """),
    md("""
        ### Exercise 1: an induction score by hand

        Write the score for one head. `weights` is a head's `[n, n]` attention matrix over
        `[BOS, x1..xn, x1..xn]` (so `n = 1 + 2 * period`). For every query `q` of the second copy
        (`q = 1 + period, ..., 2 * period`), take the weight on the key right after the earlier
        occurrence of its token, and return the mean. Test it on the made-up head below.
    """),
    code("""
        example, example_period = induction.ex1_example()
        print("example head: shape", example.shape, "period", example_period)
    """),
    answer("ex1", """
        # Exercise 1: return the induction score (a float) of one head's [n, n] weights over [BOS, x, x].
        def induction_by_hand(weights, period):
            ### BEGIN SOLUTION
            n = weights.shape[0]
            queries = np.arange(1 + period, n)
            return float(weights[queries, queries - period + 1].mean())
            ### END SOLUTION
            raise NotImplementedError("write the body above")
    """),
    check("ex1", "induction.check_induction_by_hand(induction_by_hand)",
          hidden="assert induction.check_induction_by_hand(induction_by_hand)"),
    md("""
        ## 4. From correlation to cause: remove the heads

        A high induction score says where a head *looks*; it does not prove the model *uses* it.
        To test that, switch heads off and measure again. `ablate_heads(model, [(layer, head), ...])`
        zeroes the chosen heads' outputs (the slice each head hands to the layer's output projection)
        inside a `with` block, and puts the model back afterwards.

        The control matters: removing *any* 5 of 270 heads might hurt. So we also remove 5 heads
        drawn at random (3 seeded draws, never the induction heads themselves).
    """),
    code("""
        top5 = [(l, h) for l, h, _ in top_induction]
        effect = induction.ablation_effect(model, accuracy_ids, PERIOD, top5, random_draws=3, seed=0)
        print("induction heads removed:", effect["heads"])
        for i, draw in enumerate(effect["random_heads"]):
            print(f"random draw {i + 1}:", draw)
        induction.ablation_figure(effect)
    """),
    code("""
        previous_heads = {(l, h) for l, h, _ in top_previous}
        for i, draw in enumerate(effect["random_heads"]):
            hit = sorted(previous_heads.intersection(draw))
            print(f"draw {i + 1}: accuracy {effect['random'][i]:.2f}; strongest previous-token heads in it: {hit or 'none'}")
    """),
    md("""
        Removing the five strongest induction heads takes second-copy accuracy from its full value
        to about the first copy's: copying is gone. Random heads mostly leave it alone, with one
        instructive exception: if a random draw happens to include a strong previous-token head
        (layer 16, head 0), copying breaks too. The circuit has two parts, and removing either one
        is enough. That is a *causal* claim, which no attention picture could make by itself.

        ## 5. Attention sinks

        Back to the ordinary sentence of section 1. How much of each layer's attention lands on the
        very first token? If every query spread its attention evenly over the tokens it can see,
        token 0 would get the dashed line's share.
    """),
    code("""
        sinks = induction.sink_share(record)
        even = induction.uniform_sink_share(record.n_queries)
        print("first token:", repr(record.query_tokens[0]))
        print("share on the first token, per layer:", np.round(sinks, 2))
        induction.sink_figure(sinks, even)
    """),
    md("""
        In most layers from 2 on, between a third and four fifths of all attention goes to the first
        token, a word ("The") that matters little for what comes next (layers 10 and 11 are the
        exceptions). This is an **attention sink** (Xiao et
        al., 2023): the softmax forces each row to sum to 1, so a head with nothing useful to
        read must put its weight somewhere; the first token, visible to every query, becomes the
        parking place, and its value vector is small, so parking there changes little. Two lessons:
        a large attention weight is not a large influence, and (in practice) dropping the first
        token from a model's cache breaks long generations, which is why streaming decoders keep it.

        ## 6. Grouped-query attention

        SmolLM2 has 9 query heads per layer but only 3 key/value heads: each key/value head is
        shared by 3 query heads. The key and value projections are 3 times smaller than the query
        projection, and so is the key/value cache during generation.
    """),
    code("""
        shapes = induction.grouped_query_shapes(model)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            print(f"{name}: weight {shapes[name]}  (out, in)")
        print(f"{shapes['query_heads']} query heads x {shapes['head_dim']} = {shapes['query_heads'] * shapes['head_dim']};",
              f"{shapes['kv_heads']} key/value heads x {shapes['head_dim']} = {shapes['kv_heads'] * shapes['head_dim']}")
        print("key/value head of each query head (record.kv_heads):", record.kv_heads)
        for layer, head, _ in top_induction[:2]:
            mates = [h for h in range(record.n_heads) if record.kv_heads[h] == record.kv_heads[head]]
            print(f"induction scores of layer {layer}'s heads {mates}, which share one key/value head:", [round(float(scores["induction"][layer, h]), 2) for h in mates])
        similarity = induction.group_similarity(record)
        print(f"how different two heads' attention rows are (total variation, 0 = same, 1 = disjoint): "
              f"sharing keys {similarity['same_kv_head']:.2f}, not sharing {similarity['different_kv_head']:.2f}")
    """),
    md("""
        Heads that share keys still attend differently (their queries differ); sharing makes them
        only a little more alike. The induction heads of section 3 show both sides: heads 3, 4 and
        5 of layer 17 share one key/value head and all three are induction heads, while in layer
        18 head 6 is the strongest induction head and heads 7 and 8, reading the same keys and
        values, score far lower.

        ## With a model hub: GPT-2

        *For Binder or your laptop, where the Hugging Face hub is reachable (not run by default).*
        Set `USE_HUB_MODEL = True` to run the same survey and ablation on GPT-2 small (12 layers x
        12 heads). Its induction heads are well known (layers 5-7).
    """),
    code("""
        USE_HUB_MODEL = False

        if USE_HUB_MODEL:
            del model
            gc.collect()
            model, tokenizer = aw.load_model("gpt2")
            hub_ids = induction.repeated_ids(tokenizer, PERIOD, 2, seed=0)
            hub_scores = induction.head_scores(model, tokenizer, hub_ids, PERIOD)
            print("GPT-2 induction heads:", [(l, h, round(s, 2)) for l, h, s in induction.top_heads(hub_scores["induction"], 5)])
            display(induction.score_grids_figure({"induction score": hub_scores["induction"], "previous-token score": hub_scores["previous"]}))
            hub_top = [(l, h) for l, h, _ in induction.top_heads(hub_scores["induction"], 5)]
            display(induction.ablation_figure(induction.ablation_effect(model, induction.repeated_ids(tokenizer, PERIOD, 4, seed=1), PERIOD, hub_top)))
        else:
            print("Skipped: set USE_HUB_MODEL = True where the Hugging Face hub is reachable.")
    """),
    md("""
        ## 7. Watching induction heads form

        Where do these heads come from? Nobody wrote them: they appear during training. To watch
        it happen we need a model small enough to train in minutes: 2 layers of 4 heads, width 64,
        **attention only** (no MLPs), trained on sequences of 62 symbols where a symbol seen before
        is followed, half of the time, by whatever followed it last time ("in-context bigrams");
        the loss counts only those copied tokens. We free SmolLM2 first: one model at a time.
    """),
    code("""
        del model, stepper, heads_view, heat_view
        gc.collect()
        tiny, tiny_tokenizer = aw.load_model("induction-tiny")
        print(type(tiny).__name__, "with", sum(p.numel() for p in tiny.parameters() if p.requires_grad), "trained parameters (its MLPs are switched off)")
        runs = induction.training_runs()
        induction.training_figure(runs)
    """),
    md("""
        Each seed sits on a plateau for a few hundred steps (loss near ln 62 ≈ 4.1: guessing). The
        previous-token score creeps up first; then, within about 200 steps, the previous-token head
        in layer 0 and the induction heads in layer 1 sharpen **together** and the loss falls off a
        cliff. Neither head helps the loss alone: the pair does. Three seeds, the same story,
        at slightly different steps.

        The trained model, on a fresh sequence `[BOS, x, x]` with 30 distinct symbols:
    """),
    code("""
        TINY_PERIOD = 30
        tiny_ids = induction.repeated_tokens(TINY_PERIOD, 1, distinct=True, seed=7)
        tiny_record = aw.capture(tiny, tiny_tokenizer, tiny_ids)
        print("tokens:", " ".join(tiny_record.query_tokens[:16]), "...")
        tiny_views = [aw.HeadView(tiny_record, layer=0, title="layer 0"), aw.HeadView(tiny_record, layer=1, title="layer 1")]
        aw.link_views(*tiny_views, traits=("pinned",))
        tiny_views[0].pinned = 1 + TINY_PERIOD + 5
        display(*tiny_views)
    """),
    md("""
        ### Exercise 2: which head is the previous-token head?

        Use `tiny_record` (and `analysis.offset_score`, or the views above) to find the head of
        **layer 0** that attends most to the previous token. Put its head index in `prev_head`.
    """),
    answer("ex2", """
        # Exercise 2: the head index (0-3) of layer 0's strongest previous-token head
        prev_head = None
        ### BEGIN SOLUTION
        prev_head = int(analysis.offset_score(tiny_record, -1)[0].argmax())
        ### END SOLUTION
    """),
    check("ex2", "induction.check_previous_token_head(prev_head, tiny_record)",
          hidden="assert induction.check_previous_token_head(prev_head, tiny_record)"),
    md("""
        **The score's ceiling.** On the distinct-symbol sequences below the best induction head
        scores close to 1. Draw the 30 symbols *with* replacement (some appear twice in a copy) and
        it cannot: after a symbol that occurred twice, "what came after it last time" points at
        the *more recent* occurrence's successor, not at the copy's. About a third of the queries
        are like that, so a perfect induction head scores only about 0.64 there. Always say which
        sequences a score was measured on. And the control: the same stripe on sequences where
        nothing repeats.
    """),
    code("""
        distinct = induction.tiny_scores(tiny, 64, distinct=True)
        replaced = induction.tiny_scores(tiny, 64, distinct=False)
        print(f"distinct symbols:        previous-token {distinct['previous_token']:.3f}, induction {distinct['induction']:.3f}, "
              f"accuracy first/second copy {distinct['first_copy']:.2f}/{distinct['second_copy']:.2f}")
        print(f"symbols with repeats:    previous-token {replaced['previous_token']:.3f}, induction {replaced['induction']:.3f}, "
              f"accuracy first/second copy {replaced['first_copy']:.2f}/{replaced['second_copy']:.2f}")
        print("the three seeds, held out (from training.json):")
        for seed, info in runs.items():
            d, r, c = info["held_out"]["distinct"], info["held_out"]["with_replacement"], info["held_out"]["random_control"]
            print(f"  seed {seed}: previous-token {d['previous_token']:.3f}, induction {d['induction']:.3f} (with repeats {r['induction']:.3f}), "
                  f"control with nothing repeated {c['induction_max']:.3f}; induction > 0.3 at step {info['induction_above_0.3_at_step']}")
    """),
    md("""
        **How far back can it look?** An induction head attends `period - 1` tokens back, whatever
        the distance. The model was trained on 64-token sequences; its position table has 128 rows,
        and rows 64-127 never received a gradient (they kept their sinusoidal starting values).
        Does copying still work over distances it never saw?
    """),
    code("""
        reach = {}
        for period in (5, 15, 30, 45, 62):
            ids = induction.repeated_tokens(period, 32, distinct=True, seed=period)
            reach[period] = induction.copy_accuracy(tiny, ids, period)["second_copy"]
            print(f"copy of {period:2d} symbols ({1 + 2 * period:3d} tokens): second-copy accuracy {reach[period]:.3f}")
    """),
    md("""
        It does: the rule "look one back, then look after my previous occurrence" does not depend
        on the distance, and on the untrained positions "one position back" is still the same
        rotation of the sines and cosines the table started from. (Had the table started random,
        those rows would be noise; not measured here.) This is the seed note's *long-range
        dependency* claim in its cleanest form, and also its limit: 128 positions is all this
        model has.

        ### Exercise 3: predict the effect of an ablation

        Remove every head of layer 0 that scores above 0.5 as a previous-token head, keep layer 1
        as it is, and measure second-copy accuracy on distinct-symbol copies (close to 1 with
        every head, as measured above). **Before you run anything**, write your prediction as a
        number between 0 and 1 in `predicted_accuracy`. The check runs the ablation and compares.
    """),
    answer("ex3", """
        # Exercise 3: your predicted second-copy accuracy (0 to 1) without layer 0's previous-token heads
        predicted_accuracy = None
        ### BEGIN SOLUTION
        predicted_accuracy = 0.0
        ### END SOLUTION
    """),
    check("ex3", "induction.check_ablation_prediction(predicted_accuracy, tiny, tiny_record)",
          hidden="assert induction.check_ablation_prediction(predicted_accuracy, tiny, tiny_record)"),
    md("""
        The measurement behind the check, and two more: each of layer 1's induction heads removed
        alone, and all four together.
    """),
    code("""
        tiny_cut = induction.tiny_ablations(tiny, tiny_record)
        print(f"every head:                                 {tiny_cut['all_heads']:.3f}")
        print(f"without previous-token head(s) {tiny_cut['previous_heads']}:    {tiny_cut['without_previous']:.3f}")
        for h, value in tiny_cut["without_one_induction"].items():
            print(f"without induction head (1, {h}) alone:          {value:.3f}")
        print(f"without all four layer-1 heads:             {tiny_cut['without_layer_1']:.3f}")
    """),
    md("""
        One previous-token head carries the whole circuit: remove it and copying is gone. The four
        induction heads are redundant copies of each other: any one of them can go, all four
        cannot. This is why ablation experiments remove heads in groups, and why "this head does
        X" needs a check that no other head does X too.
    """),
    md("""
        ## Summary: what we measured

        The seed note says attention lets a model *recognise recurring patterns*, *associate distant
        elements*, *adapt to the input*, and gives an *interpretable representation*. In this notebook:
    """),
    code("""
        (il, ih, iscore), (pl, ph, pscore) = top_induction[0], top_previous[0]
        print(f"- causal mask: largest weight on a later token, all {record.n_layers * record.n_heads} SmolLM2 heads: {induction.upper_triangle_max(record)}")
        print(f"- pattern recognition: strongest induction head {il}.{ih} scores {iscore:.2f}, strongest previous-token head {pl}.{ph} {pscore:.2f}; "
              f"next-token accuracy first copy {accuracy['first_copy']:.2f}, second copy {accuracy['second_copy']:.2f}")
        print(f"- cause, not only correlation: second-copy accuracy {effect['none']:.2f} -> {effect['ablated']:.2f} without the 5 top induction heads; "
              f"{', '.join(f'{a:.2f}' for a in effect['random'])} without 5 random heads each "
              f"(draws holding a top-5 previous-token head: {[i + 1 for i, d in enumerate(effect['random_heads']) if previous_heads.intersection(d)] or 'none'})")
        print(f"- interpretability has limits: layers 2-29 put {sinks[2:].mean():.2f} of their attention on the first token (even spread: {even:.2f}): an attention sink")
        print(f"- grouped-query attention: {shapes['query_heads']} query heads share {shapes['kv_heads']} key/value heads; k_proj {shapes['k_proj']} vs q_proj {shapes['q_proj']}")
        held = [r["held_out"]["distinct"] for r in runs.values()]
        prev_text = ", ".join(f"{d['previous_token']:.2f}" for d in held)
        ind_text = ", ".join(f"{d['induction']:.2f}" for d in held)
        print(f"- the heads are learned: tiny model, {len(held)} seeds, previous-token {prev_text}, induction {ind_text} "
              f"(distinct symbols; with repeats the ceiling is about 0.64)")
        print(f"- long range: the tiny model copies at every distance up to its 128 positions (second-copy accuracy {min(reach.values()):.2f}-{max(reach.values()):.2f} "
              f"for copies of {min(reach)}-{max(reach)} symbols; trained on 64 tokens)")
        print(f"- the circuit needs both parts: tiny model second-copy accuracy {tiny_cut['all_heads']:.2f} -> {tiny_cut['without_previous']:.3f} "
              f"without its previous-token head(s) {tiny_cut['previous_heads']}, {min(tiny_cut['without_one_induction'].values()):.3f} or more without any one induction head, "
              f"{tiny_cut['without_layer_1']:.3f} without all four")
    """),
    md("""
        In short: in a decoder, attention weights are exactly zero on the future; a generated token
        is written from a row of weights over everything before it; some heads do a recognisable
        job (copying what came after the last occurrence), and removing them, not others, removes
        the behaviour. Those heads are not designed: they form, together with the previous-token
        heads they rely on, in a sudden jump during training. And a big weight is not always a big
        influence: most of the attention in SmolLM2 rests on a first token that does little.
    """),
]
