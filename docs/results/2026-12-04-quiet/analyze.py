import json, glob, statistics, sys, re
Q='/work/notes/quiet'
def interp(points, target):
    pts=sorted(points)
    for (r0,q0),(r1,q1) in zip(pts,pts[1:]):
        if r0<target<=r1: return q0+(q1-q0)*(target-r0)/(r1-r0)
    if pts and pts[0][0]>=target: return max(q for r,q in pts)  # met at smallest ef
    return None
def symqg(f):
    a=json.load(open(f))[0]
    return [(r['recall_at_k'], max(r['qps_single_query_loop'], r['qps_batch_1thread'])) for r in a['results']], a
def ours(f):
    b=json.load(open(f))
    return [(r['recall_at_k'], r['qps_single_thread']) for r in b['results']], b
for ds in ['wordllama-sent-256-ip','mnist-784-l2']:
    print('==',ds)
    rows={}
    for f in sorted(glob.glob(f'{Q}/symqg-{ds}-*.json')):
        pts,a=symqg(f); rows.setdefault('symqg',[]).append(pts)
        print('  symqg build', round(a['build_seconds'],2),'s, index MiB', round(a['index_bytes']/2**20,1))
    for f in sorted(glob.glob(f'{Q}/ours-{ds}-*.json')):
        cfg=re.sub(r'-\d+\.json$','',f.split(f'ours-{ds}-')[1])
        pts,b=ours(f); rows.setdefault(cfg,[]).append(pts)
    for t in (0.9,0.95,0.99):
        line=[]
        base=[interp(p,t) for p in rows.get('symqg',[])]
        for k,v in rows.items():
            qs=[interp(p,t) for p in v]
            line.append(f"{k} {'/'.join('-' if q is None else str(round(q)) for q in qs)}")
            if k!='symqg' and None not in qs and None not in base and base:
                line[-1]+=f" ({statistics.median([q/b for q,b in zip(qs,base)]):.2f}x)"
        print(f'  R@10 {t}:', ' | '.join(line))
