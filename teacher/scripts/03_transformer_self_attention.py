from author import answer, check, code, md

CELLS = [
    md(r"""
        # 03 · Transformer self-attention

        **Goal.** You will build the attention of a Transformer from scratch, in a few lines of torch,
        and prove it equal to torch's own implementations number for number. On the way you will
        learn what the *padding* and *causal* masks do (and what happens when a mask hides
        everything), why self-attention needs *positional encodings*, and where the claim that
        attention is "computationally efficient" holds and where it fails: you will time it and
        measure its memory against a recurrent network as the text grows. You will finish with the
        trick that lets FlashAttention handle long texts: attention computed tile by tile with an
        *online softmax*.

        Run the cells from top to bottom (Shift+Enter). Cells marked *Exercise* are yours; the cell
        after each one checks your answer and tells you what to fix.
    """),
    code("""
        %matplotlib inline
        import inspect

        import ipywidgets as widgets
        import torch
        import torch.nn.functional as F
        from IPython.display import Code, display

        import attnwidgets as aw
        from attnwidgets.course import scratch

        torch.manual_seed(0)
        torch.set_num_threads(1)  # fair timings in section 6 (a GRU cannot use more cores), and Binder has one core anyway
        measured = {}  # numbers for the summary at the end
    """),
    md(r"""
        ## 1. Scaled dot-product attention

        Every token asks a question (its **query** $q$), offers a label (its **key** $k$) and carries
        content (its **value** $v$). Stack them as matrices $Q$ (one row per query), $K$ and $V$ (one
        row per key). Attention is

        $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right) V$$

        - $Q K^\top$ scores every query against every key: a `(T, S)` matrix for $T$ queries and
          $S$ keys;
        - dividing by $\sqrt{d}$ ($d$ = features per query) keeps the scores' spread near 1 whatever
          $d$ is (notebook 01 measured why);
        - the softmax over the keys (the last axis) turns each row into weights that sum to 1;
        - multiplying by $V$ gives each query a weighted average of the values.

        A **mask** says which keys a query may look at. We use torch's convention for
        `scaled_dot_product_attention`: a boolean tensor, `True` where the query *may* attend. A
        blocked key must get weight exactly 0 while the others still sum to 1, so the mask acts on
        the scores *before* the softmax: a score of $-\infty$ becomes a weight of 0.

        Tensors carry extra leading axes: `q` is `(B, nh, T, hs)`, batch, heads, tokens, head size.
        The `@` operator works on the last two axes and repeats over the others.

        ### Exercise 1: write scaled dot-product attention

        Write `attention(q, k, v, mask=None)` and return the output `(..., T, hs)`.
        With a mask, set blocked scores to `float("-inf")` before the softmax. One more thing: a
        query whose keys are **all** masked has nothing to average; the softmax of a row of $-\infty$
        is $0/0$ = NaN. Return a zero output for such a query (torch's SDPA does the same).
    """),
    answer("ex1", '''
        def attention(q, k, v, mask=None):
            """softmax(q k^T / sqrt(d)) v; mask: bool, True where a query may attend (broadcasts to (..., T, S))."""
            ### BEGIN SOLUTION
            scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
            if mask is None:
                return torch.softmax(scores, dim=-1) @ v
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
            return weights @ v
            ### END SOLUTION
            raise NotImplementedError("write the body of attention above")
    '''),
    check("ex1", "scratch.check_attention(attention)", hidden="assert scratch.check_attention(attention)"),
    md(r"""
        Here is the course's version (open `attnwidgets/course/scratch.py` to read it whole). It
        returns the weights too, so we can look at them.
    """),
    code("""
        display(Code(inspect.getsource(scratch.attention_weights), language="python"))
    """),
    md(r"""
        Is it right? Compare it with `torch.nn.functional.scaled_dot_product_attention` on random
        tensors, without a mask, with the causal mask (next section) and with a random mask. In
        float32, equal means a difference of about $10^{-7}$ (rounding), and our tests demand at
        most $10^{-5}$.
    """),
    code("""
        q, k, v = (torch.randn(2, 4, 50, 16) for _ in range(3))  # (B, nh, T, hs)
        keep = torch.rand(50, 50) > 0.5
        keep[:, 0] = True  # every query may see at least one key
        out, weights = scratch.scaled_dot_product_attention(q, k, v)
        print("q", tuple(q.shape), "-> weights", tuple(weights.shape), "-> output", tuple(out.shape))
        for name, mask, causal in (("no mask", None, False), ("causal", None, True), ("random mask", keep, False)):
            ours, _ = scratch.scaled_dot_product_attention(q, k, v, mask, causal)
            theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
            measured[f"sdpa {name}"] = (ours - theirs).abs().max().item()
            print(f"{name:12s} max |ours - torch SDPA| = {measured[f'sdpa {name}']:.1e}")
    """),
    md(r"""
        ## 2. Masks

        Two masks do almost all the work in practice.

        - **Padding.** Sentences in a batch have different lengths, so the short ones are filled up
          with `[PAD]` tokens. Nobody should read them: every query hides the padded keys.
        - **Causal.** A model that writes text one token at a time (GPT, notebook 05) must not peek
          at the tokens it has not written yet: query $i$ may see keys $0 \dots i$ only.

        Both are boolean tensors and combine with `&`. Rows are queries, columns keys:
    """),
    code("""
        print("padding mask for lengths 5 and 3 (one row per sentence, 1 = real token):")
        print(scratch.padding_mask([5, 3], 5).int())
        print("causal mask, 5 tokens (row = query, column = key, 1 = may attend):")
        print(scratch.causal_mask(5).int())
    """),
    md(r"""
        ### Exercise 2: the causal mask

        Write `causal_mask(n)`: an `(n, n)` boolean tensor, `True` at `[i, j]` when query `i` may
        attend to key `j`.
    """),
    answer("ex2", '''
        def causal_mask(n):
            """(n, n) bool: True where query i may attend to key j."""
            ### BEGIN SOLUTION
            return torch.ones(n, n, dtype=torch.bool).tril()
            ### END SOLUTION
            raise NotImplementedError("write the body of causal_mask above")
    '''),
    check("ex2", "scratch.check_causal_mask(causal_mask)", hidden="assert scratch.check_causal_mask(causal_mask)"),
    md(r"""
        **A query that may see nothing.** It happens: a sequence that is all padding, or a mask built
        the wrong way round. `torch.nn.MultiheadAttention` returns NaN for such a query, and a NaN
        spreads to everything computed from it later, silently. Our functions (like torch's SDPA)
        return a zero row instead, a choice documented in the module. Note also that
        `nn.MultiheadAttention` reads masks the other way round (`True` = *blocked*), a classic
        source of bugs: we pass it `~keep`.
    """),
    code("""
        keep = torch.ones(4, 4, dtype=torch.bool)
        keep[1] = False  # query 1 may see no key
        mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
        x = torch.randn(1, 4, 8)
        with torch.no_grad():
            y_torch, _ = mha(x, x, x, attn_mask=~keep)
            y_ours, _ = scratch.MultiHeadSelfAttention.from_torch(mha)(x, mask=keep)
        print("nn.MultiheadAttention, query 1:", y_torch[0, 1, :4])
        print("ours, query 1:                 ", y_ours[0, 1, :4])
        print("the other queries agree, max difference", (y_torch[0, [0, 2, 3]] - y_ours[0, [0, 2, 3]]).abs().max().item())
    """),
    md(r"""
        ## 3. Multi-head self-attention

        One attention map can only follow one kind of relation at a time. A Transformer runs
        several **heads** side by side: the `d_model` features of each token are projected into
        `nh` heads of `hs = d_model / nh` features each, every head attends on its own, and a final
        projection mixes the heads' outputs back into `d_model` features. In *self*-attention the
        queries, keys and values all come from the same tokens. nanoGPT's layout makes all three
        projections with one `Linear` of `d_model -> 3 * d_model`:
    """),
    code("""
        display(Code(inspect.getsource(scratch.MultiHeadSelfAttention.forward), language="python"))
    """),
    md(r"""
        `torch.nn.MultiheadAttention` stores its three projections stacked the same way
        (`in_proj_weight`, shape `(3 d_model, d_model)`), so we can copy its weights into our layer
        and compare outputs *and* per-head weights, under every mask setting:
    """),
    code("""
        mha = torch.nn.MultiheadAttention(64, 4, batch_first=True).eval()
        ours = scratch.MultiHeadSelfAttention.from_torch(mha)
        x = torch.randn(3, 11, 64)  # 3 sentences of 11 tokens, 64 features
        real = scratch.padding_mask([11, 7, 4], 11)  # the 2nd and 3rd are padded
        settings = {  # ours: True = may attend; nn.MultiheadAttention: True = blocked
            "no mask": ({}, {}),
            "padding": ({"padding": real}, {"key_padding_mask": ~real}),
            "causal": ({"causal": True}, {"attn_mask": ~scratch.causal_mask(11)}),
            "padding + causal": ({"padding": real, "causal": True}, {"key_padding_mask": ~real, "attn_mask": ~scratch.causal_mask(11)}),
        }
        for name, (our_masks, torch_masks) in settings.items():
            with torch.no_grad():
                y, w = ours(x, **our_masks)
                y_ref, w_ref = mha(x, x, x, need_weights=True, average_attn_weights=False, **torch_masks)
            measured[f"mha {name}"] = max((y - y_ref).abs().max().item(), (w - w_ref).abs().max().item())
            print(f"{name:17s} max difference (outputs and per-head weights {tuple(w.shape)}): {measured[f'mha {name}']:.1e}")
    """),
    md(r"""
        ## 4. A real sentence through our layer

        Random weights make random pictures. For a real one, take the first layer of MiniLM (a
        6-layer BERT that ships with the course) and copy its query, key, value and output weights
        into our `MultiHeadSelfAttention`. Feed it the sentence as BERT's first layer sees it (word
        vectors + position vectors + segment vectors, normalised). If our code is right, its
        weights must equal the ones BERT itself computes, which `aw.capture` records:
    """),
    code("""
        model, tokenizer = scratch.load_minilm()
        text = "The animal didn't cross the street because it was too tired."
        x, tokens, real = scratch.bert_inputs(model, tokenizer, text)
        layer = scratch.MultiHeadSelfAttention.from_bert(model.encoder.layer[0].attention, n_head=12)
        with torch.no_grad():
            _, ours = layer(x)  # (1, 12, T, T)
        bert = aw.capture(model, tokenizer, text)  # BERT's own first-layer weights, and the other 5 layers
        measured["minilm layer 0"] = float(abs(ours[0].numpy() - bert.weights[0]).max())
        print(f"{len(tokens)} tokens, 12 heads: max |ours - BERT's own layer 0| = {measured['minilm layer 0']:.1e}")
    """),
    md(r"""
        Now the masks on that layer. Below, the sentence is padded with three `[PAD]` tokens, as if it
        sat in a batch beside a longer one. Switch the **mask** and the **head**: the heat map (rows:
        queries, columns: keys; hover for values) and the line view (click a token to pin it) are
        redrawn from our layer's weights under that mask.

        Things to look for: with **no mask**, how much attention do real words waste on `[PAD]`?
        With **padding**, the last three columns go dark. With **causal**, everything above the
        diagonal goes dark, and the first token can only attend to itself.
    """),
    code("""
        explorer = scratch.MaskExplorer(scratch.mask_records(model, tokenizer, text, pad=3), head=2)
        explorer.widget
    """),
    code("""
        for name in scratch.MASKS:
            explorer.mask = name
            explorer.head = "mean"
            on_pad, on_future = explorer.shares()
            measured[f"pad share {name}"] = on_pad
            print(f"mask {name:17s}: real tokens put {on_pad:6.1%} of their attention on [PAD] and {on_future:6.1%} on later tokens (mean of heads)")
        explorer.mask, explorer.head = "none", 2
    """),
    md(r"""
        With right padding (the `[PAD]`s at the end) the causal mask alone already hides the
        padding from every real token: they all come *after* it. A decoder fed left-padded batches
        (common for generation) needs both masks.

        ## 5. Positions: what self-attention cannot see

        Look at the formula again: nothing in it knows *where* a token is. Each output is a weighted
        average over a **set** of keys; the order of the rows plays no part. So what happens if we
        shuffle the words?
    """),
    code("""
        texts = ("the dog bit the man", "the man bit the dog")
        outputs = {}
        for positions in (False, True):
            for t in texts:
                x_t, toks, _ = scratch.bert_inputs(model, tokenizer, t, positions=positions)
                with torch.no_grad():
                    y_t, _ = layer(x_t)
                outputs[positions, t] = (y_t[0], toks)
        dog = {t: outputs[False, t][1].index("dog") for t in texts}  # where "dog" sits in each sentence
        gap = {p: (outputs[p, texts[0]][0][dog[texts[0]]] - outputs[p, texts[1]][0][dog[texts[1]]]).norm().item() for p in (False, True)}
        size = outputs[True, texts[0]][0][dog[texts[0]]].norm().item()
        measured["dog gap"] = gap
        reveal = widgets.HTML(
            f"Output vector of <b>dog</b> (length {size:.2f}) in <i>{texts[0]}</i> minus the one in <i>{texts[1]}</i>:<br>"
            f"&nbsp; without positions: <b>{gap[False]:.1e}</b> (float rounding: the same vector)<br>"
            f"&nbsp; with BERT's learned positions: <b>{gap[True]:.2f}</b>")
        aw.Predict(
            "We feed 'the dog bit the man' and 'the man bit the dog' to our layer, word vectors only (no positions). "
            "The output vector of 'dog' in the two sentences is...",
            ["exactly the same", "a little different", "completely different"],
            answer="exactly the same",
            reveal=reveal,
            explain="Without positions, 'dog' meets the same set of words in both sentences, so it computes the same weighted average: "
                    "who bit whom is invisible. Shuffling the input only shuffles the output (permutation equivariance).",
        )
    """),
    md(r"""
        The same holds for any shuffle, and for any weights: the layer is **permutation
        equivariant**, $f(PX) = P f(X)$. Measured with a random permutation of a random input:
    """),
    code("""
        small = scratch.MultiHeadSelfAttention(64, 4).eval()
        x = torch.randn(1, 12, 64)
        perm = torch.randperm(12)
        measured["perm gap"] = scratch.permutation_gap(small, x, perm)
        measured["perm gap with positions"] = scratch.permutation_gap(small, x, perm, positions=scratch.sinusoidal_positions(12, 64))
        with torch.no_grad():
            typical = small(x)[0].abs().mean().item()
        print(f"max |f(shuffled x) - shuffled f(x)|: no positions {measured['perm gap']:.1e}, "
              f"sinusoidal positions added {measured['perm gap with positions']:.2f} (a typical output entry is {typical:.2f} in size)")
    """),
    md(r"""
        So Transformers add a position vector to every token before the first layer. Two common
        kinds:

        - **Sinusoidal** (the original Transformer): feature pair $i$ of position $p$ is
          $\sin(p / 10000^{2i/d})$ and $\cos(p / 10000^{2i/d})$. The first pairs turn fast, the last
          ones slowly, like the hands of a clock, so every position gets its own pattern, and the
          similarity of two positions depends only on their distance. Nothing is learned; any length
          works.
        - **Learned** (BERT, GPT-2): a table with one trained vector per position, here MiniLM's, 512
          positions of 384 features. It cannot go past its last position.

        Top: the vectors (position down, feature across). Bottom: the cosine similarity of every
        pair of positions.
    """),
    code("""
        fig = scratch.plot_positions(scratch.sinusoidal_positions(128, 384), model.embeddings.position_embeddings.weight[:128])
        fig
    """),
    md(r"""
        The sinusoidal similarity is a band that depends only on $|p - p'|$. MiniLM was never told
        to do that, yet its learned positions also ended up most similar to their neighbours: the
        model learned that nearness matters.

        ## 6. Is attention "computationally efficient"? Measured

        The argument for attention over a recurrent network (RNN, GRU, LSTM) is that it handles all
        positions **at once**: a GRU must step through the tokens one after another, each step
        waiting for the previous one, while attention is a few big matrix products. But attention
        compares *every* pair of tokens, so its work grows like $n^2$ and the GRU's like $n$.
        Counting the arithmetic of one layer of width $d$ (batch 1):

        - attention: $8nd^2$ for the four projections, plus $4n^2d$ for $QK^\top$ and the weighted sum;
        - GRU: $12nd^2$ (three gates, each a $d \times d$ matrix on the input and on the hidden state).

        They are equal at $n = d$. Memory: our attention holds the $(n \times n)$ weights of every
        head at once, `nh` $\times n^2 \times$ 4 bytes, while the GRU keeps about $4nd$ numbers.
    """),
    code("""
        d_model, n_head = 256, 4
        for n in (64, 256, 1024, 4096):
            ratio = scratch.flops(n, d_model, "attention") / scratch.flops(n, d_model, "gru")
            print(f"n = {n:5d}: attention does {ratio:5.2f}x the GRU's arithmetic; "
                  f"the weights of {n_head} heads take {n_head * n * n * 4 / 1e6:7.1f} MB")
    """),
    md(r"""
        Now measure. The next cell times one forward pass (best of 2 runs, one CPU thread, so
        neither side gets more cores than the other) of our attention layer, of the same layer
        using torch's fused SDPA kernel, and of a GRU with the same width, on 64 to 2048 tokens; and
        it records their peak memory (every allocation torch makes, read from torch's profiler). It
        takes about ten seconds. `benchmarks/attention_scaling.py` runs the longer sweep, to 4096
        tokens and beyond.

        The arithmetic says attention does more work from $n = 256$. Predict first:
    """),
    code("""
        scaling = scratch.scaling_sweep([64, 128, 256, 512, 1024, 2048], d_model=d_model, n_head=n_head, repeats=2)
        time_cross = scaling.crossover("attention (ours, naive)")
        aw.Predict(
            "On this CPU, from what length is OUR attention layer (d_model 256, 4 heads) slower than the GRU?",
            scratch.CROSSOVER_OPTIONS,
            answer=scratch.crossover_bucket(time_cross),
            reveal=[scratch.figure_widget(scratch.plot_scaling(scaling)), widgets.HTML("<pre>" + scaling.summary() + "</pre>")],
            explain="Attention only catches up with the GRU well after n = d, where its arithmetic is already larger: the GRU's "
                    "many small sequential steps run far below the speed of attention's few big matrix products.",
        )
    """),
    code("""
        print(scaling.table())
        print()
        print(scaling.summary())
        measured["time crossover"] = time_cross
        measured["fused time crossover"] = scaling.crossover("attention (torch SDPA)")
        measured["memory ratio"] = scaling.ratio("attention (ours, naive)", what="peak_bytes")
    """),
    md(r"""
        What the numbers say (they were measured on a shared machine, so single times are noisy,
        but the shapes of the curves are not):

        - **Time.** Below the crossover attention wins easily, by far at short lengths: all
          positions at once beats one step per token, even on one core. Past it, the $n^2$ term
          takes over and the gap widens with every doubling of $n$. Parallel hardware (a GPU) moves
          the crossover much further out, since the GRU cannot use it; batches of many sequences
          move it back in, since they make the GRU's steps bigger.
        - **Memory.** Our attention's peak passes the GRU's at the very first length and grows as
          $n^2$. torch's fused SDPA kernel computes the same numbers in *the same memory as the GRU*:
          it never stores the $n \times n$ weights. How? Next section.

        ## 7. Tiled attention with an online softmax

        The softmax of a row needs its maximum (for stability) and its sum, and both seem to need
        the whole row of $n$ scores. They do not. Walk through the keys in blocks and keep three
        running numbers per query:

        - $m$, the largest score seen so far;
        - $\ell = \sum_j e^{s_j - m}$, the sum of exponentials so far;
        - $\mathit{acc} = \sum_j e^{s_j - m} v_j$, the weighted sum of values so far.

        When a new block brings scores $s$, the maximum may grow to $m' = \max(m, \max s)$. The old
        sums were taken against the old $m$; multiplying them by $e^{m - m'}$ re-bases them:

        $$\ell' = \ell\, e^{m - m'} + \sum_{j \in \text{block}} e^{s_j - m'}, \qquad
          \mathit{acc}' = \mathit{acc}\, e^{m - m'} + \sum_{j \in \text{block}} e^{s_j - m'} v_j$$

        After the last block, $\mathit{acc} / \ell$ is exactly $\operatorname{softmax}(s)\,V$. Only one
        block of scores exists at any time. This is the core of FlashAttention (Dao et al. 2022),
        which does it inside one GPU kernel.

        ### Exercise 3: the online softmax update

        Write `online_update(m, l, acc, scores, values)` for one block: `m` and `l` have shape `(T,)`,
        `acc` `(T, d)`, `scores` `(T, block)`, `values` `(block, d)`. Return the new `(m, l, acc)`.
        The check starts from `m = -inf`, `l = 0`, `acc = 0` and feeds your function three blocks.
    """),
    answer("ex3", '''
        def online_update(m, l, acc, scores, values):
            """Fold one block of scores (T, block) and values (block, d) into the running (m, l, acc)."""
            ### BEGIN SOLUTION
            m_new = torch.maximum(m, scores.max(dim=-1).values)
            p = torch.exp(scores - m_new[:, None])
            rescale = torch.exp(m - m_new)
            return m_new, l * rescale + p.sum(dim=-1), acc * rescale[:, None] + p @ values
            ### END SOLUTION
            raise NotImplementedError("write the body of online_update above")
    '''),
    check("ex3", "scratch.check_online_update(online_update)", hidden="assert scratch.check_online_update(online_update)"),
    md(r"""
        The course's `tiled_attention` applies that update tile by tile: queries in blocks of 128,
        and for each, keys in blocks of 128. With the causal mask it skips the tiles that lie
        entirely in the future. Is it still exact?
    """),
    code("""
        q, k, v = (torch.randn(1, 4, 1000, 64) for _ in range(3))  # 1000 is not a multiple of the block: the last tile is partial
        for causal in (False, True):
            diff = (scratch.tiled_attention(q, k, v, causal=causal) - F.scaled_dot_product_attention(q, k, v, is_causal=causal)).abs().max().item()
            measured[f"tiled causal={causal}"] = diff
            print(f"causal={causal!s:5}: max |tiled - torch SDPA| = {diff:.1e}")
    """),
    md(r"""
        And its memory? The naive version holds two $(n \times n)$ matrices per head for a moment
        (the scores, then the weights); the tiled one a few $(128 \times 128)$ tiles plus the output.
        Peak memory of both, measured the same way as before (4 heads of 64 features):
    """),
    code("""
        tiled_rows = scratch.tiled_memory_sweep([256, 512, 1024, 2048], n_head=4, head_size=64, block=128)
        print(scratch.tiled_table(tiled_rows))
        measured["tiled rows"] = tiled_rows
        scratch.plot_tiled_memory(tiled_rows)
    """),
    md(r"""
        The naive peak grows 4x per doubling of $n$ (as $n^2$). The tiled one grows slowly: the
        output and the running sums grow like $n$, the tiles stay the same size. Our Python loop pays for it in time: the tiles are small and visited one by one. A
        fused kernel (torch's SDPA on this CPU, FlashAttention on a GPU) runs the same loop without
        the Python overhead, which is why torch's curve in section 6 had the GRU's memory and beat
        our naive layer's time.

        ## Summary

        - Scaled dot-product attention is four lines: scores $QK^\top/\sqrt{d}$, mask with
          $-\infty$ *before* the softmax, softmax over the keys, weighted sum of the values. A
          query that may see nothing must be handled (zeros here, as torch's SDPA), or its NaN
          spreads.
        - Multi-head self-attention splits the features into heads, attends in each, and mixes them
          back; our version equals `nn.MultiheadAttention` and BERT's own first layer.
        - Without positions, self-attention sees a set: shuffling the words only shuffles the
          outputs. Sinusoidal or learned position vectors break the symmetry.
        - Attention is fast where its parallel matrix products beat a recurrent network's sequential
          steps, up to lengths well past $n = d$, but its time and (naively) its memory grow as $n^2$.
          Tiling with an online softmax removes the $n^2$ memory, not the $n^2$ arithmetic.

        The numbers this notebook measured:
    """),
    code("""
        print("parity, max |ours - torch|: SDPA " + ", ".join(f"{k[5:]} {v:.1e}" for k, v in measured.items() if k.startswith("sdpa ")))
        print("                            nn.MultiheadAttention " + ", ".join(f"{k[4:]} {v:.1e}" for k, v in measured.items() if k.startswith("mha ")))
        print(f"                            BERT's layer 0 {measured['minilm layer 0']:.1e}; tiled vs SDPA "
              f"{measured['tiled causal=False']:.1e} (causal {measured['tiled causal=True']:.1e})")
        print(f"attention on [PAD] without a padding mask: {measured['pad share none']:.1%}; with it: {measured['pad share padding']:.1%}")
        print(f"'dog' in the two sentences: {measured['dog gap'][False]:.1e} apart without positions, {measured['dog gap'][True]:.2f} with; "
              f"random shuffle: {measured['perm gap']:.1e} vs {measured['perm gap with positions']:.2f}")
        print(f"time: our attention {scratch.describe_crossover(scaling.lengths, measured['time crossover'])}; "
              f"torch SDPA {scratch.describe_crossover(scaling.lengths, measured['fused time crossover'])}")
        print(f"memory: our attention / GRU = {measured['memory ratio'][0]:.1f}x at n = {scaling.lengths[0]}, "
              f"{measured['memory ratio'][-1]:.1f}x at n = {scaling.lengths[-1]}")
        last = measured["tiled rows"][-1]
        print(f"n = {last['n']}: naive peak {last['naive_bytes'] / 1e6:.0f} MB, tiled {last['tiled_bytes'] / 1e6:.1f} MB "
              f"({last['naive_bytes'] / last['tiled_bytes']:.0f}x less)")
    """),
    md(r"""
        Next: **04 · BERT**, where these layers are stacked six deep and trained, and we look at what
        their heads learned.
    """),
]
