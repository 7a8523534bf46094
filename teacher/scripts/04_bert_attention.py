from author import answer, check, code, md

CELLS = [
    md("""
        # 04 · BERT attention: getting the weights out, and what the heads do

        **Goal.** By the end of this notebook you can

        - take the attention weights out of a BERT model correctly, and say the two reasons the
          classic copy-paste snippet returns nothing in today's `transformers`;
        - read a head view and a model view, and use attention rollout knowing what it assumes;
        - measure, over 40 sentences, where a BERT's attention goes ([CLS], [SEP], punctuation),
          which heads look at the previous or the next token, and which heads are focused or broad;
        - say with numbers where "attention weights show what the model uses" holds and where it
          does not, and how a bidirectional encoder differs from a causal decoder.

        The model is **MiniLM** (`all-MiniLM-L6-v2`): a BERT with 6 layers of 12 heads and BERT's
        own vocabulary, small enough for a laptop and shipped inside a pip package, so everything
        here runs offline. One cell near the end runs the same survey on `bert-base-uncased` if you
        have access to the Hugging Face hub.

        Run the cells from top to bottom (Shift+Enter). Cells marked *Exercise* are yours; the cell
        after each one checks your answer and tells you what to fix.
    """),
    code("""
        %matplotlib inline
        import gc
        import warnings

        import numpy as np
        import torch
        import transformers
        from transformers import BertModel, BertTokenizer

        import attnwidgets as aw
        from attnwidgets import analysis
        from attnwidgets.course import bert

        transformers.logging.disable_progress_bar()  # no weight-loading bars in the outputs
        print("transformers", transformers.__version__, "| torch", torch.__version__)
    """),
    md("""
        ## 1. The classic snippet, and why it fails

        Many tutorials (and the note this course grew from) take BERT's attention out like this:
        load `BertModel`, run it on the token ids, and read `outputs[2]` as "the attention for each
        layer". Below is that snippet, unchanged except for one thing: there is no model hub here,
        so `from_pretrained` reads MiniLM from the folder its pip package installed instead of
        downloading `bert-base-uncased`. It is the same `BertModel` class.
    """),
    code("""
        MINILM = bert.minilm_folder()  # a local folder with config.json, weights and vocab.txt
        text = "The quick brown fox jumps."

        tokenizer = BertTokenizer.from_pretrained(MINILM)
        model = BertModel.from_pretrained(MINILM)
        input_ids = torch.tensor([tokenizer.encode(text, add_special_tokens=True)])

        try:
            with torch.no_grad():
                model.eval()
                outputs = model(input_ids)
                attention_masks = outputs[2]  # the snippet's comment: "Attention masks for each layer"
                attention_weights = torch.stack(attention_masks, dim=0).squeeze(1)
        except Exception as err:  # shown, not raised, so that Run All carries on
            print(f"{type(err).__name__}: {err}")

        print("the model returned", len(outputs), "things:", list(outputs.keys()))
    """),
    md("""
        **Reason 1: the weights were never asked for.** A Hugging Face model returns only what you
        request. By default that is the last layer's hidden states and the pooled [CLS] vector: two
        things, so position 2 does not exist. Attention weights come back only with
        `output_attentions=True`. (They are also not "masks": the *attention mask* is an input that
        marks padding; what we want are the softmax weights.)

        So add the flag and try again:
    """),
    code("""
        with torch.no_grad():
            outputs = model(input_ids, output_attentions=True)
        print("attention implementation:", model.config._attn_implementation)
        print("outputs.attentions =", repr(outputs.attentions))
        try:
            torch.stack(outputs.attentions, dim=0)
        except Exception as err:
            print(f"{type(err).__name__}: {err}")
    """),
    md("""
        **Reason 2: the fast kernel never forms the weights.** `transformers` 5 loads models with
        `attn_implementation="sdpa"`: PyTorch's fused `scaled_dot_product_attention`, which computes
        softmax(QKᵀ/√d)·V in one kernel and returns only the result. The weights matrix is never
        handed back, so the library gives an empty tuple (and logs the warning printed above).
        The *eager* implementation computes the same attention step by step in Python and keeps the
        weights. Both reasons have to be fixed.
    """),
    code("""
        sdpa_model = model  # kept for a moment, to show what capture() does with it
        model = BertModel.from_pretrained(MINILM, attn_implementation="eager").eval()
        with torch.no_grad():
            outputs = model(input_ids, output_attentions=True)
        attention_weights = torch.stack(outputs.attentions, dim=0).squeeze(1)  # [layers, heads, tokens, tokens]
        print("outputs now hold:", list(outputs.keys()))
        print("attentions: a tuple of", len(outputs.attentions), "tensors, each", tuple(outputs.attentions[0].shape), "= [batch, heads, queries, keys]")
        print("stacked and squeezed:", tuple(attention_weights.shape))
        print("every row sums to 1:", torch.allclose(attention_weights.sum(-1), torch.ones(1)))
    """),
    md("""
        `outputs[2]` would work now, but only because attentions happen to be third: ask for hidden
        states too and they move. Read them by name, `outputs.attentions`.

        **The same in one call.** `aw.capture` does all of this: it switches a model to eager
        attention if needed (and says so), asks for the weights, checks that every row is a
        distribution, and keeps the tokens with them. Given the sdpa model that failed above, it
        switches it and warns instead of returning nothing:
    """),
    code("""
        record = aw.capture(model, tokenizer, text)
        print(record)
        print("tokens:", record.query_tokens)
        print("largest difference from the hand-made tensor:", float(np.abs(record.weights - attention_weights.numpy()).max()))

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from_sdpa = aw.capture(sdpa_model, tokenizer, text)
        print("\\ncapture() on the sdpa model warned:", caught[0].message if caught else "(nothing)")
        print("and its weights equal the eager ones:", np.array_equal(from_sdpa.weights, record.weights))
    """),
    md("""
        ### Exercise 1: the snippet for a batch

        The snippet's `.squeeze(1)` removes the batch axis, which only works for one sentence. Real
        code runs batches, and a batch of sentences of different lengths is **padded** to the
        longest. Below, two sentences go in together; the second is shorter, so it gets `[PAD]`
        tokens at the end (the `attention_mask` marks them with 0).
    """),
    code("""
        batch = tokenizer(bert.BATCH, return_tensors="pt", padding=True)
        for i, ids in enumerate(batch["input_ids"]):
            print(i, tokenizer.convert_ids_to_tokens(ids), "mask:", batch["attention_mask"][i].tolist())
    """),
    answer("ex1", """
        # Exercise 1: run the eager `model` on `batch` (pass the attention mask too) and put the attention
        # of the SECOND sentence in `attention_weights`: shape [layers, heads, n, n], n = its real length.
        attention_weights = None
        ### BEGIN SOLUTION
        with torch.no_grad():
            outputs = model(**batch, output_attentions=True)
        n = int(batch["attention_mask"][1].sum())
        attention_weights = torch.stack(outputs.attentions)[:, 1, :, :n, :n]
        ### END SOLUTION
    """),
    check("ex1", "bert.check_batch(attention_weights, model, tokenizer)",
          hidden="assert bert.check_batch(attention_weights, model, tokenizer)"),
    md("""
        ## 2. Looking at the heads

        From here on the model comes from `aw.load_model("minilm")`, which is the eager MiniLM with
        its tokenizer in one line. We free the two hand-made copies first.

        Two views, linked (same layer, same pinned token, same rollout setting):

        - **HeadView**: the tokens twice, queries on the left and keys on the right. A line from a
          query to a key is as strong as that weight; each head has its own colour (click the chips
          to switch heads on and off, or choose mean / max of heads).
        - **ModelView**: every head of every layer as a small picture (rows are layers, columns
          heads). Click one to open it as a heatmap; rows are queries, columns keys.

        (`bert.SentenceViews` is `aw.HeadView(record)` and `aw.ModelView(record)` joined by
        `aw.link_views(...)`, plus a text box that calls `view.show(new_record)` on both.)

        Click a token to pin it (click again or press Esc to unpin). Pick one of the example
        sentences or type your own and press Enter. Things to look for: in layer 0, head 2, every
        line goes one step up; in many heads of layers 1 to 4 most lines end on [CLS].
    """),
    code("""
        del sdpa_model, model, from_sdpa
        gc.collect()
        minilm, tok = aw.load_model("minilm")
        sentences = bert.load_sentences()
        print(len(sentences), "sentences in", bert.SENTENCES.name, "for example:", sentences[1])
    """),
    code("""
        explorer = bert.SentenceViews(minilm, tok, sentences[:8])
        explorer
    """),
    md("""
        An empty box or a text too long for these views gets a message above the views, and the
        last sentence stays on screen.

        ## 3. What the heads do, measured over 40 sentences

        A view shows one sentence; a pattern is worth reporting only if it holds across many. The
        file `data/sentences.txt` holds 40 sentences written for this course (questions, lists,
        quotes, clauses). We capture each one alone, then average.
    """),
    code("""
        records = bert.capture_all(minilm, tok, sentences)
        heads = bert.survey(records)
        print(f"{heads.n_sentences} sentences, {heads.mean_tokens:.1f} tokens on average with [CLS] and [SEP]")
    """),
    md("""
        ### Predict first

        Every query spreads one unit of attention over the keys. Averaged over all heads, queries and
        sentences, which of these gets the largest share in the *middle* layers (2 and 3)? If
        attention were spread evenly, each single token would get about 1/15 ≈ 0.07 of it.
    """),
    code("""
        aw.Predict(
            "In MiniLM's middle layers, which gets the largest share of attention?",
            bert.TARGETS,
            answer=heads.most_attended_middle(),
            reveal=bert.figure_widget(bert.plot_shares(heads)),
            explain="MiniLM sends about half of all attention in layers 1 to 4 to [CLS], several times what an even spread "
                    "would give it, and gives [SEP] and punctuation less than an even spread. In bert-base-uncased the "
                    "same role is played by [SEP] in the middle layers (Clark et al., 2019): which token becomes the "
                    "'parking place' depends on the model.",
        )
    """),
    code("""
        print(bert.share_table(heads))
        cls_layers = heads.per_layer("[CLS]")
        print(f"\\n[CLS]: {cls_layers[1:5].min():.2f} to {cls_layers[1:5].max():.2f} in layers 1-4, "
              f"{cls_layers[1:5].mean() / heads.uniform['[CLS]']:.0f}x an even spread ({heads.uniform['[CLS]']:.3f})")
        print(f"[SEP]: {heads.per_layer('[SEP]')[1:5].mean():.3f} in layers 1-4, below its even share {heads.uniform['[SEP]']:.3f}")
        print(f"punctuation: {heads.per_layer('punctuation').mean():.3f} over all layers, even share {heads.uniform['punctuation']:.3f}")
    """),
    md("""
        So in MiniLM one token, [CLS], soaks up about half of the attention from layer 1 on, while
        [SEP] and punctuation get *less* than they would by chance. A head that has nothing useful to
        gather still has to put its weight somewhere (the softmax sums to 1); a fixed token that is
        present in every input is a convenient place. Section 4 checks whether that weight carries
        anything.

        ### Exercise 2: the share of [SEP], by hand

        `record.weights` is a numpy array `[layers, heads, queries, keys]`, and [SEP] is the last key.
        Write `sep_share(record, layer)`: the weight on [SEP] averaged over every head and every query
        of that layer (one number).
    """),
    answer("ex2", """
        def sep_share(record, layer):
            \"\"\"Share of attention to [SEP] in one layer: mean over heads and queries of the weight on the last key.\"\"\"
            ### BEGIN SOLUTION
            return float(record.weights[layer, :, :, -1].mean())
            ### END SOLUTION
            raise NotImplementedError("write the body above")
    """),
    check("ex2", "bert.check_sep_share(sep_share, minilm, tok)",
          hidden="assert bert.check_sep_share(sep_share, minilm, tok)"),
    md("""
        ### Previous-token and next-token heads

        A head that always looks one token back gives almost all of query *q*'s weight to key *q − 1*.
        Its **previous-token score** is that weight averaged over the queries that have a previous
        token; a head ignoring position would score about 1/15 here. The next-token score is the same
        one step ahead (an encoder reads both ways, so both exist).

        ### Exercise 3: find the previous-token heads

        Write `previous_token_scores(record)`: for every layer and head, the mean over queries
        *q* ≥ 1 of `weights[layer, head, q, q - 1]`, as an array `[layers, heads]`.
        (`np.diagonal(w, offset=-1, axis1=2, axis2=3)` takes the diagonal just below the main one.)
    """),
    answer("ex3", """
        def previous_token_scores(record):
            \"\"\"[layers, heads]: mean weight from each query q >= 1 to the key q - 1.\"\"\"
            ### BEGIN SOLUTION
            return np.diagonal(record.weights, offset=-1, axis1=2, axis2=3).mean(axis=-1)
            ### END SOLUTION
            raise NotImplementedError("write the body above")
    """),
    check("ex3", "bert.check_previous(previous_token_scores, minilm, tok)",
          hidden="assert bert.check_previous(previous_token_scores, minilm, tok)"),
    md("""
        The library's version is `analysis.offset_score(record, -1)` (and `+1` for the next token).
        Averaged over the 40 sentences:
    """),
    code("""
        bert.plot_offsets(heads)
    """),
    code("""
        for name, scores in (("previous-token", heads.previous), ("next-token", heads.next)):
            best = ", ".join(f"layer {l} head {h}: {s:.3f}" for l, h, s in bert.top_heads(scores, 3))
            print(f"strongest {name} heads: {best}")
        l, h, _ = bert.top_heads(heads.previous, 1)[0]
        print(f"layer {l} head {h} on each sentence: lowest {heads.previous_each[:, l, h].min():.3f}, highest {heads.previous_each[:, l, h].max():.3f}")
        print(f"a head ignoring position would score about {heads.uniform['previous token']:.3f}")
    """),
    md("""
        One head, layer 0 head 2, is an almost perfect previous-token head on every one of the 40
        sentences. Next-token behaviour is weaker: the best head gives the next token about 0.6 of
        its weight, the runner-up about 0.3. The other heads score close to chance.

        ### Focused heads and broad heads

        The **entropy** of a row says how spread out it is: 0 bits when all weight is on one key,
        log₂(n) bits when it is spread evenly over n keys (about 3.9 bits for our 15-token
        sentences). `analysis.entropy(record)` gives the mean over queries for every head.
    """),
    code("""
        bert.plot_entropy(heads)
    """),
    code("""
        print(f"entropy per head: {heads.entropy.min():.2f} to {heads.entropy.max():.2f} bits; an even spread is {heads.uniform_entropy:.2f} bits")
        print(f"heads under 1 bit: {len(bert.focused_heads(heads))}; heads above 80% of an even spread: {int((heads.entropy > 0.8 * heads.uniform_entropy).sum())}")
        for l, h, e, target, share in bert.focused_heads(heads):
            print(f"  layer {l} head {h}: {e:.3f} bits, mostly on {target} ({share:.2f})")
        print("mean entropy per layer:", np.round(heads.entropy.mean(axis=1), 2))
    """),
    md("""
        Layer 0 is broad (most heads close to an even spread, except the previous-token head), the
        middle layers are the most focused, and the last layer spreads out again. The focused heads
        are focused on *positions* ([CLS], the previous or next token), not on words chosen for
        their meaning.

        ## 4. Do the weights show what a head passes on?

        A head's output for query *i* is Σⱼ aᵢⱼ · f(xⱼ), where f(xⱼ) is token *j*'s value vector
        sent through the head's share of the output projection. The weight aᵢⱼ is only half of the
        story: a big weight on a token whose f(xⱼ) is tiny passes on almost nothing. Kobayashi et
        al. (2020) proposed weighing each aᵢⱼ by ‖f(xⱼ)‖. `bert.internals` reads the value vectors
        and outputs with hooks during the model's own forward pass; `bert.norm_survey` does it for
        all 40 sentences.
    """),
    code("""
        sizes = bert.norm_survey(minilm, tok, sentences, records)
        print("share per layer        by weight                          by weight x size of what is moved")
        for target in ("[CLS]", "[SEP]", "punctuation"):
            print(f"{target:<12} {np.array2string(sizes.weight_share[target], precision=3):<36} {np.array2string(sizes.norm_share[target], precision=3)}")
        print(f"\\n[CLS] in layers 1-4: {sizes.weight_share['[CLS]'][1:5].mean():.2f} of the weight, {sizes.norm_share['[CLS]'][1:5].mean():.2f} of what is moved")
    """),
    md("""
        The weights say [CLS] gets about half of the attention; weighted by what is actually moved,
        it is about a tenth, and in layers 1 to 4 punctuation's share roughly doubles. [CLS]'s value vectors are
        small: much of the attention parked there is close to a no-op. Raw attention weights are a
        picture of *where a head looks*, not of what it passes on.

        ## 5. Attention rollout against raw attention

        A raw map shows one layer. Information reaches layer 5 through every layer before it, and
        through the residual connections that carry each token past attention. **Attention rollout**
        (Abnar and Zuidema, 2020) chains the layers: with Āₗ the mean of layer *l*'s heads,

        $$R_l = \\left(\\tfrac12 I + \\tfrac12 \\bar A_l\\right) R_{l-1}, \\qquad R_{-1} = I,$$

        and row *i* of Rₗ says how much each input token flows into position *i* after layer *l*.
        In the views, the layer menu offers "rollout to layer N" (and the explorer above has a
        rollout button). Here the animal sentence, raw mean of heads on the left and rollout on the
        right, both at the last layer:
    """),
    code("""
        animal = aw.capture(minilm, tok, sentences[1])
        raw_view = aw.HeadView(animal, layer=5, aggregate="mean", title="layer 5, mean of heads (raw)")
        roll_view = aw.HeadView(animal, layer=5, rollout=True, title="rollout to layer 5")
        aw.link_views(raw_view, roll_view, traits=("layer", "pinned"))
        bert.Row([raw_view, roll_view])
    """),
    code("""
        roll = bert.rollout_survey(records)
        print("per layer            ", "  ".join(f"{l:>5}" for l in range(6)))
        for name, values in (("[CLS] share, raw", roll.raw_cls), ("[CLS] share, rollout", roll.rollout_cls),
                             ("on itself, raw", roll.raw_itself), ("on itself, rollout", roll.rollout_itself),
                             ("entropy, raw (bits)", roll.raw_entropy), ("entropy, rollout", roll.rollout_entropy),
                             ("same top key", roll.rank_agreement)):
            print(f"{name:<21}", "  ".join(f"{v:5.2f}" for v in values))
    """),
    md("""
        What the numbers say:

        - Rollout starts **close to the identity** (after layer 0 each token keeps about half of its
          own flow, from the ½I term) and loses it layer by layer; raw attention puts only about
          0.1 on the token itself at any layer.
        - Rollout's [CLS] share **grows steadily** with depth (about 0.14 → 0.6) because every
          layer's [CLS] weight is multiplied in; raw layer 5 gives [CLS] only about 0.37.
        - From layer 2 on, raw and rollout agree on the top key of almost every row: both say
          "[CLS]", so rollout adds little beyond the sink here.

        **What rollout assumes**, and what we can check:

        1. *The residual is an identity mixed 50/50 with attention.* The model decides that mix
           itself; below we compare the size of attention's output with the residual stream it is
           added to.
        2. *Heads count equally* (their mean is taken). Below: how much the largest head's output
           outweighs the smallest in each layer.
        3. *Everything is linear.* Rollout ignores the feed-forward layers and LayerNorm, which
           rescale and mix every token's vector. This one we cannot fix by a number; it is why
           rollout is a heuristic and not an explanation.
    """),
    code("""
        print("size of attention's output / size of the residual it is added to, per layer:", np.round(sizes.residual_ratio, 2))
        print("largest head output / smallest head output in the layer:                  ", np.round(sizes.head_norm_spread, 1))
    """),
    md("""
        Attention adds a vector about a third to three fifths as long as the residual stream
        (rollout assumes they weigh the same), and within a layer the largest head's output is
        about 2.5 to 4 times the smallest one's (rollout averages them as equals). Rollout is a useful picture of how information
        *could* flow; the numbers say not to read it as a measurement.

        ## 6. Does attention adapt to the input, or follow fixed patterns?

        The seed note claims attention "adapts dynamically to the input" and "recognizes recurring
        patterns". A clean test: keep the very same tokens but shuffle their order (between [CLS] and
        [SEP]), and measure how far each head's attention moves. The distance between two rows is
        the total-variation distance (`analysis.attention_distance`): 0 when nothing moved, 1 when
        the weight went to completely different positions.
    """),
    code("""
        moved = bert.adaptation(minilm, tok, sentences, records)
        print("mean distance per layer (0 = same pattern, 1 = all weight moved):", np.round(moved.distance.mean(axis=1), 2))
        print("heads that moved most: ", ", ".join(f"layer {l} head {h} ({d:.2f})" for l, h, d in bert.top_heads(moved.distance, 3)))
        print("heads that moved least:", ", ".join(f"layer {l} head {h} ({-d:.3f})" for l, h, d in bert.top_heads(-moved.distance, 3)))
        print(f"heads under 0.1: {int((moved.distance < 0.1).sum())} of {moved.distance.size}")
        l, h, _ = bert.top_heads(heads.previous, 1)[0]
        print(f"previous-token head (layer {l} head {h}) on shuffled words: {moved.previous_shuffled[l, h]:.3f} (in order: {heads.previous[l, h]:.3f})")
        print(f"[CLS] share per layer on shuffled words: {np.round(moved.cls_shuffled, 2)} (in order: {np.round(heads.per_layer('[CLS]'), 2)})")
    """),
    md("""
        Both claims hold in part. Most heads do follow the input: on average about a third of their
        weight moves when the words move, up to about half for the most input-driven heads. But the
        strongest "patterns" the survey found are fixed: the previous-token head keeps its score on
        word salad, so it recognises a *position*, not anything in the text, and the [CLS] sink takes
        the same half of the attention whether the sentence makes sense or not.

        ## 7. Bidirectional against causal

        BERT is an encoder: every token attends to every other, before and after it. A GPT-style
        decoder only looks back, so it can generate text one token at a time. Here is the same
        sentence through MiniLM and through **SmolLM2** (135M parameters, 30 layers, a LLaMA-style
        decoder, also shipped in a pip package). SmolLM2 takes about 0.6 GB, so it is loaded,
        captured and deleted right away.
    """),
    code("""
        sentence = sentences[1]
        smol, smol_tok = aw.load_model("smollm2")
        causal = aw.capture(smol, smol_tok, sentence)
        del smol
        gc.collect()
        bidirectional = aw.capture(minilm, tok, sentence)
        print(bidirectional)
        print(causal)
        bert.side_by_side(bidirectional, causal, encoder_layer=3, decoder_layer=15)
    """),
    code("""
        both = bert.directions(bidirectional, causal)
        print("MiniLM: share of attention on later tokens, per layer:", np.round(both["encoder_future"], 2))
        print(f"SmolLM2: largest share on later tokens in any head of any layer: {both['decoder_future_max']}")
        print(f"SmolLM2: share on its first token, mean over layers: {both['decoder_first'].mean():.2f} "
              f"(even spread over the visible tokens: {both['decoder_first_uniform']:.2f})")
        print(f"MiniLM: share on its first token ([CLS]), mean over layers: {both['encoder_first'].mean():.2f}")
    """),
    md("""
        The causal map is exactly zero above the diagonal: no weight ever reaches a later token.
        MiniLM puts a good part of its attention on tokens to the right. Both models have a sink at
        their first position: for the decoder the first token is also the one every query can see,
        which makes it the natural parking place (more on these *attention sinks* in notebook 05).

        ## 8. With a model hub: `bert-base-uncased`

        *For Binder or your laptop, where the Hugging Face hub is reachable (not run by default).*
        Set `USE_HUB_MODEL = True` to run the same survey on the original BERT (12 layers × 12
        heads, about 0.4 GB) and compare: in its middle layers [SEP] should take the place of [CLS].
    """),
    code("""
        USE_HUB_MODEL = False

        if USE_HUB_MODEL:
            hub_model, hub_tok = aw.load_model("bert-base-uncased")
            hub_heads = bert.survey(bert.capture_all(hub_model, hub_tok, sentences))
            print(bert.share_table(hub_heads))
            print("strongest previous-token heads:", bert.top_heads(hub_heads.previous, 3))
            display(bert.SentenceViews(hub_model, hub_tok, sentences[:8]))
        else:
            print("Skipped: set USE_HUB_MODEL = True where the Hugging Face hub is reachable.")
    """),
    md("""
        ## Summary: what we measured

        The seed note says attention gives an *interpretable representation*, *recognises
        patterns*, *adapts to the input* and *focuses selectively*. Measured on MiniLM over 40
        sentences:
    """),
    code("""
        cls_mid = heads.per_layer("[CLS]")[1:5].mean()
        pl, ph, pscore = bert.top_heads(heads.previous, 1)[0]
        nl, nh, nscore = bert.top_heads(heads.next, 1)[0]
        print(f"- where attention goes: [CLS] gets {cls_mid:.2f} in layers 1-4 (even spread: {heads.uniform['[CLS]']:.3f}); "
              f"[SEP] {heads.per_layer('[SEP]')[1:5].mean():.3f}, punctuation {heads.per_layer('punctuation')[1:5].mean():.3f}, both below their even share")
        print(f"- pattern recognition: previous-token head layer {pl} head {ph} scores {pscore:.3f} (lowest sentence {heads.previous_each[:, pl, ph].min():.3f}), "
              f"{moved.previous_shuffled[pl, ph]:.3f} on shuffled words: a positional pattern; best next-token head layer {nl} head {nh}: {nscore:.2f}")
        print(f"- selective focus: head entropies {heads.entropy.min():.2f} to {heads.entropy.max():.2f} bits (even spread {heads.uniform_entropy:.2f}); "
              f"{len(bert.focused_heads(heads))} heads under 1 bit, all focused on positions")
        print(f"- interpretable?: [CLS] gets {sizes.weight_share['[CLS]'][1:5].mean():.2f} of the weight but {sizes.norm_share['[CLS]'][1:5].mean():.2f} of what heads move (layers 1-4)")
        print(f"- rollout: attention's output is {sizes.residual_ratio.min():.2f}-{sizes.residual_ratio.max():.2f} of the residual (assumed 1), "
              f"head outputs differ {sizes.head_norm_spread.min():.1f}-{sizes.head_norm_spread.max():.1f}x (assumed equal); rollout's [CLS] share rises to {roll.rollout_cls[-1]:.2f}")
        print(f"- adaptability: shuffling the words moves {moved.distance.mean():.2f} of a head's weight on average (most: {moved.distance.max():.2f}, "
              f"least: {moved.distance.min():.3f}); the [CLS] share does not change ({moved.cls_shuffled[1:5].mean():.2f} vs {cls_mid:.2f})")
        print(f"- direction: MiniLM puts {both['encoder_future'].mean():.2f} of its attention on later tokens, SmolLM2 {both['decoder_future_max']}")
    """),
    md("""
        In short: BERT-style attention is easy to take out once you ask for it the right way
        (`output_attentions=True` on eager attention, or `aw.capture`), and the heads show real,
        measurable structure. But the clearest structure is positional (previous token, next token,
        a sink token present in every input), much of the weight is parked where it moves little,
        and rollout rests on assumptions the model does not meet. Attention maps are a good place to
        start looking, and a poor place to stop. Notebook 05 turns to decoders, where one kind of head
        (the induction head) can be shown to *cause* a behaviour, by removing it.
    """),
]
