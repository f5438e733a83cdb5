#!/usr/bin/env python3
"""The user documentation read against the programs, in both directions.

    docs_truth.py ROOT RAPPORTD RAPPORTCTL TMPDIR CHECK

CHECK is one of
  settings   every setting of the spec tables (daemon/config.c,
             jobs/jobs.c, jobs/*.c) is in rapport.conf(5) and every setting
             there is accepted; the type, default and range agree.
  values     each setting given a wrong type or an out-of-range value:
             rapportd -n exits 78 and names FILE:LINE: and the setting.
  examples   every "Example:" line of rapport.conf(5) is accepted.
  ctl        rapportctl's commands and options: --help, each command's
             --help and rapportctl(8) name the same ones.
  daemon     rapportd --help and rapportd(8) name the same options.
  readme     README's configuration block is accepted, and its rapportctl
             and rapportd command lines name commands and options that exist.

Prints one line per check, "ok<TAB>name" or "fail<TAB>name<TAB>detail",
for tests/integration/test_docs_truth.sh to count."""
import json
import os
import re
import shlex
import subprocess
import sys

ROOT, RAPPORTD, RAPPORTCTL, TMP, CHECK = sys.argv[1:6]


def report(ok, name, detail=''):
    detail = detail.replace('\n', ' | ')
    print('%s\t%s%s' % ('ok' if ok else 'fail', name, '\t' + detail if detail and not ok else ''))


# ---- the code's settings ---------------------------------------------------
SPEC = re.compile(r'\{\s*"([a-z_0-9]+)",\s*(SET_[A-Z_]+),\s*((?:"(?:[^"\\]|\\.)*"\s*)+|NULL),\s*'
                  r'([a-z_0-9]+|NULL),\s*([-0-9LL* ]+),\s*([-0-9LL* ]+)\}', re.S)


def c_string(s):
    if s.strip() == 'NULL':
        return None
    return ''.join(p.encode().decode('unicode_escape') for p in re.findall(r'"((?:[^"\\]|\\.)*)"', s))


def c_number(s):
    n = 1
    for f in s.replace('LL', '').split('*'):
        n *= int(f)
    return n


def spec_table(path, name):
    src = open(os.path.join(ROOT, path)).read()
    m = re.search(r'setting_spec ' + name + r'\[\] = \{(.*?)\n\};', src, re.S)
    if not m:
        raise SystemExit('no table %s in %s' % (name, path))
    return {n: dict(type=t, default=c_string(d), min=c_number(lo), max=c_number(hi))
            for n, t, d, _, lo, hi in SPEC.findall(m.group(1))}


def code_settings():
    code = {}
    for group, table in [('', 'top_specs'), ('database.', 'database_specs'), ('templates.', 'templates_specs'),
                         ('email.', 'email_specs'), ('sms.', 'sms_specs'), ('sms.json_fields.', 'sms_json_fields_specs'),
                         ('outbox.', 'outbox_specs')]:
        for n, v in spec_table('daemon/config.c', table).items():
            if group == '' and v['type'] == 'SET_ANY':
                continue  # the groups themselves
            code[group + n] = v
    for n, v in spec_table('jobs/jobs.c', 'job_common_settings').items():
        code['jobs.*.' + n] = v
    for f in sorted(os.listdir(os.path.join(ROOT, 'jobs'))):
        if not f.endswith('.c') or f == 'jobs.c':
            continue
        src = open(os.path.join(ROOT, 'jobs', f)).read()
        table, job = re.search(r'setting_spec ([a-z_0-9]+)\[\] = ', src), re.search(r'\.name = "([a-z_]+)"', src)
        for n, v in spec_table('jobs/' + f, table.group(1)).items():
            code['jobs.%s.%s' % (job.group(1), n)] = v
    return code


# ---- the manual's settings -------------------------------------------------
ESCAPES = [('\\(dq', '"'), ('\\(en', '\u2013'), ('\\(em', '\u2014'), ('\\-', '-'), ('\\&', ''), ('\\fB', ''),
           ('\\fI', ''), ('\\fP', ''), ('\\fR', ''), ('\\(lq', '"'), ('\\(rq', '"'), ('\\(aq', "'"), ('\\ ', ' '),
           ('\\e', '\\')]


def render(line):
    """One man(7) source line as text (None for a request that prints nothing)."""
    m = re.match(r'\.(BR|RB|IR|RI|BI|IB|B|I)(?:\s+(.*)|$)', line)
    if m:
        arg = m.group(2) or ''
        for a, b in ESCAPES:
            arg = arg.replace(a, b if b != '"' else '\x01')
        lexer = shlex.shlex(arg, posix=True)
        lexer.whitespace_split, lexer.escape = True, ''
        try:
            args = list(lexer)
        except ValueError:
            args = arg.split()
        s = (' ' if len(m.group(1)) == 1 else '').join(a.replace('\x01', '"') for a in args)
    elif line.startswith('.'):
        return None
    else:
        s = line
    for a, b in ESCAPES:
        s = s.replace(a, b)
    return re.sub(r'\\\[u([0-9A-F]{4,5})\]', lambda x: chr(int(x.group(1), 16)), s)


def man_entries(page):
    """(section, subsection, tag, text after the tag up to .br, line of the tag)."""
    lines = open(os.path.join(ROOT, 'daemon', page)).read().split('\n')
    sh = ss = None
    for i, line in enumerate(lines):
        if line.startswith('.SH'):
            sh, ss = line[4:].strip().strip('"'), None
        elif line.startswith('.SS'):
            ss = line[4:].strip().strip('"')
        elif line == '.TP' and i + 1 < len(lines):
            body, j = [], i + 2
            while j < len(lines) and not re.match(r'\.(br|TP|SH|SS|PP)\b', lines[j]):
                r = render(lines[j])
                if r is not None:
                    body.append(r)
                j += 1
            example = None
            if j + 2 < len(lines) and lines[j] == '.br' and lines[j + 1] == 'Example:':
                example = (render(lines[j + 2]), j + 3)
            yield sh, ss, lines[i + 1], ' '.join(body), i + 2, example


GROUP_SECTIONS = ('TOP LEVEL', 'DATABASE', 'TEMPLATES', 'E-MAIL', 'SMS', 'OUTBOX')


def man_settings():
    out = {}
    for sh, ss, tag, text, line, example in man_entries('rapport.conf.5'):
        m = re.fullmatch(r'\.B ([a-z_.0-9]+)', tag)
        if not m:
            continue
        name = m.group(1)
        if sh in GROUP_SECTIONS:
            key = name
        elif sh == 'JOBS' and '.' not in name:  # "customer.key_account" is a template variable
            key = 'jobs.*.' + name if ss == 'Settings of every job' else 'jobs.%s.%s' % (ss, name)
        else:
            continue
        out[key] = dict(text=text, line=line, example=example)
    return out


UNIT = {'min': 60, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800, '': 1}


def man_range(text):
    m = re.search(r'(-?\d+)\s*(min|[smhdw]?)\s*\u2013\s*(-?\d+)\s*(min|[smhdw]?)\b', text)
    if not m:
        return None
    a, ua, b, ub = m.groups()
    return int(a) * UNIT[ua or ub], int(b) * UNIT[ub]


def man_default(text):
    """('literal', value) for "(default X, ...)" or "...; default X; ...",
    ('prose', words) for "(default: ...)", or None."""
    m = re.search(r'(?:\(|;\s)default\b', text)
    if not m:
        return None
    rest, depth = text[m.end():], 0
    for j, ch in enumerate(rest):
        depth += {'(': 1, ')': -1}.get(ch, 0)
        if depth < 0:
            rest = rest[:j]
            break
    if rest.startswith(':'):
        return 'prose', rest[1:].strip()
    rest, depth, quoted = rest.strip(), 0, False
    for k, ch in enumerate(rest):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in '[{':
            depth += 1
        elif not quoted and ch in ']}':
            depth -= 1
        elif not quoted and depth == 0 and ch in ',;':
            return 'literal', rest[:k].strip()
    return 'literal', rest


def literal_value(v):
    """A default as the manual writes it, as the JSON value the code keeps."""
    v = v.strip()
    if v.startswith('{'):
        v = re.sub(r'([A-Za-z_]+)\s*=\s*', r'"\1": ', v)
        v = re.sub(r';\s*}', '}', v).replace(';', ',')
    m = re.fullmatch(r'"((?:\d+[smhdw])+)"', v)
    if m:
        return sum(int(n) * UNIT[u] for n, u in re.findall(r'(\d+)([smhdw])', m.group(1)))
    try:
        value = json.loads(v)
    except ValueError:
        return v
    if isinstance(value, dict):  # hours maps: "7d" is 168 hours
        value = {k: (literal_value('"%s"' % x) // 3600 if isinstance(x, str) else x) for k, x in value.items()}
    return value


# Settings whose default the manual gives in words because the code has
# none to give (it comes from elsewhere at run time).
PROSE_DEFAULTS = {
    'instance',                     # hostname:pid, computed at start
    'jobs.digest.feb29',            # the birthdays job's, else "feb28"
    'jobs.holidays.dates',          # none
    'jobs.receivables.levels',      # the ladder printed below it
}


def check_settings():
    code, man = code_settings(), man_settings()
    report(len(code) > 60, 'the spec tables were read', '%d settings' % len(code))
    check_value_types()
    for key in sorted(set(code) | set(man)):
        where = 'rapport.conf.5:%d: %s' % (man[key]['line'], key) if key in man else key
        if key == 'sms.json_fields':  # a group: its members are checked below
            continue
        if key not in man:
            parent = key.rsplit('.', 1)[0]
            common = 'jobs.*.' + key.split('.')[-1]
            if parent in man and '%s = ' % key.split('.')[-1] in man[parent]['text'] and parent == 'sms.json_fields':
                report(True, '%s is documented in %s' % (key, parent))
            elif key.startswith('jobs.') and common in man:
                report(False, '%s: documented only as the common %s' % (key, common))
            else:
                report(False, '%s is accepted but not in rapport.conf(5)' % key, json.dumps(code[key]))
            continue
        if key not in code:
            report(False, '%s is in rapport.conf(5) but not accepted' % where)
            continue
        c, text = code[key], man[key]['text']
        d = man_default(text)
        cd = None if c['default'] is None else json.loads(c['default'])
        if c['type'] == 'SET_TIME_OF_DAY' and cd:
            cd = cd[:5]
        if c['type'] == 'SET_DURATION' and isinstance(cd, str):
            cd = literal_value('"%s"' % cd)
        if d is None:
            report(cd is None, '%s: no default in either' % where, 'the code has %r' % (cd,))
        elif d[0] == 'prose' or key in PROSE_DEFAULTS:
            report(cd is None or key in PROSE_DEFAULTS, '%s: default in words only where the code has none' % where,
                   'the code has %r, the manual says %r' % (cd, d[1]))
        elif key == 'sms.json_reply_id':
            src = open(os.path.join(ROOT, 'daemon/sms_text.c')).read()
            m = re.search(r'json\[\] = \{([^}]*)\}', src)
            names = re.findall(r'"([^"]+)"', m.group(1)) if m else None
            report(names == literal_value(d[1]), '%s: default equals sms_text.c\'s' % where, '%r vs %r' % (names, d[1]))
        else:
            report(literal_value(d[1]) == cd, '%s: default equals the code\'s' % where,
                   'the code has %r, the manual says %r' % (cd, d[1]))
        if c['max'] > c['min'] and c['type'] in ('SET_INT', 'SET_DURATION', 'SET_INT_LIST'):
            r = man_range(text)
            if r is None and key.endswith('.max_lateness') and key != 'jobs.*.max_lateness':
                # a job's own default for the common setting: the common range, or said in the job's section
                r = man_range(man['jobs.*.max_lateness']['text'])
                if c['max'] == 7 * 86400:
                    r = (0, 7 * 86400) if 'at most 7 days' in open(os.path.join(ROOT, 'daemon/rapport.conf.5')).read() else r
            report(r == (c['min'], c['max']), '%s: range equals the code\'s' % where,
                   'the code has %d-%d, the manual %s' % (c['min'], c['max'], r))
        elif c['type'] in ('SET_INT', 'SET_DURATION') and man_range(text):
            report(False, '%s: the manual gives a range the code does not check' % where, str(man_range(text)))


def check_value_types():
    """The value types the manual describes beyond the spec tables: cron
    macros, and the ladder's days."""
    page = open(os.path.join(ROOT, 'daemon/rapport.conf.5')).read()
    cron_entry = page.split('.I cron expression\n', 1)[1].split('.TP', 1)[0]
    documented = set(re.findall(r'@[a-z]+', cron_entry))
    table = set(re.findall(r'\{"(@[a-z]+)"', open(os.path.join(ROOT, 'daemon/cron.c')).read()))
    report(documented == table and table, "rapport.conf(5)'s cron expression names cron.c's macros",
           'manual only %s, code only %s' % (sorted(documented - table), sorted(table - documented)))
    config = open(os.path.join(ROOT, 'daemon/config.c')).read()
    limit = re.search(r'llabs\(config_setting_get_int64\(d\)\) > (\d+)', config)
    levels = ' '.join(filter(None, (render(x) for x in page.split('.B levels\nlist of groups', 1)[1].split('.RS', 1)[0].split('\n'))))
    want = 'from -%s to %s' % (limit.group(1), limit.group(1)) if limit else '?'
    report(want in levels, "rapport.conf(5)'s ladder days have convert_ladder's range", want)


# ---- wrong values ------------------------------------------------------------
WRONG = {
    'SET_BOOL': ['"yes"', '1'],
    'SET_INT': ['"4"', '1.5'],
    'SET_FLOAT': ['"fast"', 'true'],
    'SET_STRING': ['5', 'true'],
    'SET_DURATION': ['"5x"', '"1h30"', '-1', 'true'],
    'SET_TIME_OF_DAY': ['"25:00"', '"9"', '9'],
    'SET_DATE': ['"2027-02-30"', '5', '"2027-2-3"'],
    'SET_ENUM': ['"bogus"', '5'],
    'SET_STRING_LIST': ['"email"', '[ "bogus" ]', '[ 5 ]'],
    'SET_INT_LIST': ['[ 0 ]', '"x"', '[ "1" ]'],
    'SET_TIER_MAP': ['{ D = 1; }', '{ A = -1; }', '5', '{ A = "7"; }'],
    'SET_HOURS_MAP': ['{ urgent = 1; }', '{ critical = 0; }', '5', '{ high = "soon"; }'],
    'SET_LADDER': ['( )', '( { days = 1; } )', '( { days = 1; template = "t"; channel = "fax"; } )', '5'],
    'SET_HOLIDAYS': ['( { name = "x"; } )', '( { name = "x"; date = "2027-13-01"; } )', '5', '( { date = "2027-01-01"; } )'],
}
WRONG_BY_NAME = {  # settings with a form of their own (or SET_ANY)
    'outbox.retry': ['"x"', '[ ]', '[ "5x" ]', '[ -1 ]'],
    'sms.json_reply_id': ['5', '[ ]', '[ "a..b" ]'],
    'sms.json_fields': ['5', '{ msisdn = "x"; }', '{ to = "text"; }'],
    'sms.json_fields.to': ['5', '""'],
    'sms.json_fields.from': ['5', '""'],
    'sms.json_fields.text': ['5', '""', '"to"'],
    'sms.json_fields.idempotency_key': ['5', '"from"'],
    'email.smtp_url': ['"http://x"', '5'],
    'sms.gateway_url': ['"ftp://x"', '5'],
    'email.from': ['"nobody"', '5'],
    'email.redirect_to': ['"nobody"'],
    'email.unsubscribe_mailto': ['"nobody"'],
    'email.unsubscribe_url': ['"ftp://x"'],
    'email.quiet_hours': ['"22-7"', '"21:00-08:00 Mon-Fri"'],
    'sms.quiet_hours': ['"22-7"'],
    'sms.redirect_to': ['"12345"'],
    'email.ca_file': ['"/nonexistent/ca.pem"'],
    'email.password_file': ['"/nonexistent/pw"'],
    'database.password_file': ['"/nonexistent/pw"'],
    'sms.token_file': ['"/nonexistent/tok"'],
    'database.conninfo': ['"host=x bogus_keyword=1"', '5'],
    'locale': ['"../../etc"', '5'],
    'time_zone': ['"Mars/Olympus"', '5'],
    'jobs.*.time_zone': ['"Mars/Olympus"', '5'],
    'jobs.*.schedule': ['"61 * * * *"', '"* * *"', '5'],
}


def base_groups():
    return {'time_zone': '"UTC"',
            'database': {'conninfo': '"host=/nonexistent dbname=x"'},
            'templates': {'dir': '"%s/templates"' % os.path.abspath(ROOT)},
            'email': {'smtp_url': '"smtp://127.0.0.1:9"', 'from': '"a@example.com"', 'tls': '"none"'},
            'sms': {'gateway_url': '"http://127.0.0.1:9/"'}}


def config_text(groups, key=None, value=None):
    """The configuration with KEY = VALUE on a line of its own; returns (text, that line)."""
    lines, target = [], None
    parts = key.split('.') if key else []
    if parts and parts[0] == 'jobs':
        parts[1] = 'birthdays' if parts[1] == '*' else parts[1]
    for g, kv in groups.items():
        if not isinstance(kv, dict):
            if not (len(parts) == 1 and parts[0] == g):
                lines.append('%s = %s;' % (g, kv))
            continue
        lines.append('%s: {' % g)
        lines += ['  %s = %s;' % (k, v) for k, v in kv.items() if not (parts[:1] == [g] and parts[1:] == [k])]
        if parts[:1] == [g] and len(parts) == 2:
            lines.append('  %s = %s;' % (parts[1], value))
            target = len(lines)
        if parts[:1] == [g] and len(parts) == 3:
            lines.append('  %s: { %s = %s; };' % (parts[1], parts[2], value))
            target = len(lines)
        lines.append('};')
    if len(parts) == 1:
        lines.append('%s = %s;' % (key, value))
        target = len(lines)
    elif parts and parts[0] not in groups:
        lines.append('%s: {' % parts[0])
        for depth, p in enumerate(parts[1:-1], 1):
            lines.append('  ' * depth + '%s: {' % p)
        lines.append('  ' * (len(parts) - 1) + '%s = %s;' % (parts[-1], value))
        target = len(lines)
        for depth in range(len(parts) - 2, 0, -1):
            lines.append('  ' * depth + '};')
        lines.append('};')
    return '\n'.join(lines) + '\n', target


def rapportd_n(text):
    path = os.path.join(TMP, 'docs-truth.conf')
    with open(path, 'w') as f:
        f.write(text)
    env = dict(os.environ)
    env.pop('CREDENTIALS_DIRECTORY', None)
    p = subprocess.run([RAPPORTD, '-n', '-c', path], capture_output=True, text=True, env=env)
    return p.returncode, (p.stdout + p.stderr).strip(), path


def check_values():
    code = code_settings()
    for key in sorted(code):
        c = code[key]
        values = list(WRONG_BY_NAME.get(key, WRONG.get(c['type'], [])))
        if key.startswith('jobs.') and c['type'] == 'SET_STRING' and key not in WRONG_BY_NAME:
            values = ['5']
        if key not in WRONG_BY_NAME and c['max'] > c['min'] and c['type'] in ('SET_INT', 'SET_DURATION'):
            values += [str(c['min'] - 1), str(c['max'] + 1)]
        if not values:
            report(False, '%s: no wrong value to try for a %s' % (key, c['type']))
        name = key.replace('*', 'birthdays')
        for v in values:
            text, line = config_text(base_groups(), key, v)
            rc, out, path = rapportd_n(text)
            report(rc == 78 and '%s:%d: ' % (path, line) in out and name in out,
                   '%s = %s: exit 78 naming %s:%d and %s' % (key, v, os.path.basename(path), line, name),
                   'exit %d: %s' % (rc, out))


def check_examples():
    for f in ('db-password', 'smtp-password', 'sms-token'):
        with open(os.path.join(TMP, f), 'w') as fh:
            fh.write('s3cret\n')
    sections = {'E-MAIL': 'email', 'SMS': 'sms', 'OUTBOX': 'outbox', 'DATABASE': 'database', 'TEMPLATES': 'templates'}
    n = 0
    for sh, ss, tag, text, line, example in man_entries('rapport.conf.5'):
        if not example or not re.fullmatch(r'\.B [a-z_.0-9]+', tag):
            continue
        ex, ex_line = example
        ex = ex.replace('/etc/rapport/', TMP + '/').replace('/etc/ssl/certs/internal-ca.pem', '/etc/ssl/certs/ca-certificates.crt')
        m = re.fullmatch(r'\s*([a-z_0-9]+)\s*=\s*(.*);\s*', ex)
        if not m:
            report(False, 'rapport.conf.5:%d: example %r is one setting' % (ex_line, ex))
            continue
        k, v = m.groups()
        g = base_groups()
        if sh in sections:
            if k == 'dir':
                continue  # a directory the administrator makes
            g.setdefault(sections[sh], {})[k] = v
            if sh == 'E-MAIL' and k == 'username':
                g['email'].update(tls='"required"', password_file='"%s/smtp-password"' % TMP)
            if sh == 'SMS' and k in ('format', 'username'):
                g['sms'].update(format='"twilio"', username='"ACxxx"', **{'from': '"+8610000000000"'},
                                token_file='"%s/sms-token"' % TMP)
            text, _ = config_text(g)
        elif sh == 'TOP LEVEL':
            text, _ = config_text(g, k, v)
        elif sh == 'JOBS':
            job = 'birthdays' if ss == 'Settings of every job' else ss
            text, _ = config_text(g, 'jobs.%s.%s' % (job, k), v)
        else:
            continue
        rc, out, _ = rapportd_n(text)
        # A template named in an example is one the administrator writes.
        missing_template_only = 'template' in k and all('template' in x for x in out.split('\n'))
        report(rc == 0 or missing_template_only, 'rapport.conf.5:%d: example %s accepted' % (ex_line, ex), out)
        n += 1
    report(n > 60, 'examples found', str(n))


# ---- commands and options -----------------------------------------------------
def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def options_in(text):
    return set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])', text))


def check_ctl():
    _, top = run(RAPPORTCTL, '--help')
    help_cmds = re.findall(r'^  ([a-z]+) ', top.split('\nOptions:')[0], re.M)
    man = {}
    page = open(os.path.join(ROOT, 'daemon/rapportctl.8')).read()
    for sh, ss, tag, text, line, _ in man_entries('rapportctl.8'):
        if sh == 'COMMANDS':
            head = render(tag)
            man[head.split()[0]] = (head, text, line)
    report(set(help_cmds) == set(man), 'rapportctl --help and rapportctl(8) list the same commands',
           'help only %s, manual only %s' % (set(help_cmds) - set(man), set(man) - set(help_cmds)))
    nowhere = os.path.join(TMP, 'nonexistent', 'rapport.conf')
    for cmd in help_cmds:
        rc, h = run(RAPPORTCTL, cmd, '--help')
        usage = h.split('\n\n')[0]
        hopts = options_in(usage) - {'-h', '--help'}
        head, text, line = man.get(cmd, ('', '', 0))
        mopts = options_in(head) - {'-h', '--help'}
        report(rc == 0 and hopts == mopts, 'rapportctl %s: --help and rapportctl.8:%d give the same options' % (cmd, line),
               'help only %s, manual only %s' % (sorted(hopts - mopts), sorted(mopts - hopts)))
        # What the command accepts is what its usage names: each option
        # named is known, and no short option is known that it does not name.
        for o in sorted(hopts):
            _, out = run(RAPPORTCTL, '-c', nowhere, cmd, o)
            report('unknown option' not in out, 'rapportctl %s %s: a known option' % (cmd, o), out)
        # A short option is the first letter of a long one (or a usual
        # letter): probing those keeps this to a few runs a command.
        hidden = []
        for letter in sorted({o[2] for o in hopts if o.startswith('--')} | set('nqvjsfr')):
            # Known: it wants its value, or gets past the command line to
            # the (missing) configuration.
            rc, out = run(RAPPORTCTL, '-c', nowhere, cmd, '-' + letter)
            known = 'needs a value' in out or 'takes no value' in out or rc != 64
            if known and '-' + letter not in hopts:
                hidden.append('-' + letter)
        report(not hidden, 'rapportctl %s: every short option it accepts is in its usage' % cmd, ' '.join(hidden))
    # Every exit status a command returns is in EXIT STATUS.
    status = page.split('.SH EXIT STATUS')[1].split('.SH ')[0]
    documented = set(int(x) for x in re.findall(r'^\.B (\d+)$', status, re.M))
    src = open(os.path.join(ROOT, 'daemon/rapportctl.c')).read()
    returned = set(int(x) for x in re.findall(r'return (\d+);', src)) | \
        {dict(EX_USAGE=64, EX_DATAERR=65, EX_NOINPUT=66, EX_UNAVAILABLE=69, EX_SOFTWARE=70, EX_IOERR=74,
              EX_CONFIG=78)[x] for x in re.findall(r'\b(EX_[A-Z]+)\b', src) if x != 'EX_OK'}
    report(returned <= documented, 'every exit status of rapportctl.c is in rapportctl(8) EXIT STATUS',
           'undocumented: %s' % sorted(returned - documented))


def check_daemon():
    _, h = run(RAPPORTD, '--help')
    hopts = options_in(h.split('\nSignals:')[0])
    page = open(os.path.join(ROOT, 'daemon/rapportd.8')).read()
    section = page.split('.SH OPTIONS')[1].split('.SH ')[0]
    mopts = set()
    for line in section.split('\n'):
        if line.startswith('.B') and line.split()[0] in ('.B', '.BR', '.BI'):
            mopts |= options_in(render(line) or '')
    tagged = set()
    for sh, ss, tag, text, line, _ in man_entries('rapportd.8'):
        if sh == 'OPTIONS':
            tagged |= options_in(render(tag))
    report(hopts == tagged, 'rapportd --help and rapportd(8) OPTIONS give the same options',
           'help only %s, manual only %s' % (sorted(hopts - tagged), sorted(tagged - hopts)))
    synopsis = options_in(' '.join(render(x) or '' for x in page.split('.SH SYNOPSIS')[1].split('.SH ')[0].split('\n')))
    report(synopsis <= hopts, 'rapportd(8) SYNOPSIS names only options rapportd has', str(sorted(synopsis - hopts)))
    for o in sorted(tagged):
        rc, out = run(RAPPORTD, '-c', os.path.join(TMP, 'nonexistent', 'rapport.conf'), o)
        report('unknown option' not in out, 'rapportd %s: a known option' % o, out)


def check_readme():
    """README's configuration block is accepted; every rapportctl and rapportd
    command line in its shell blocks names a command and options that exist."""
    readme = open(os.path.join(ROOT, 'README.md')).read()
    blocks = re.findall(r'^```(\w*)\n(.*?)^```', readme, re.M | re.S)
    conf = [b for lang, b in blocks if lang == '' and 'database: {' in b]
    report(len(conf) == 1, 'README has one configuration block')
    for b in conf:
        text = b.replace('"/usr/local/share/rapport/templates"', '"%s/templates"' % os.path.abspath(ROOT))
        with open(os.path.join(TMP, 'sms-token'), 'w') as f:
            f.write('s3cret\n')  # the block says: the token is the sms-token credential
        rc, out, _ = rapportd_n(text)
        report(rc == 0, "README's configuration block is accepted by rapportd -n", out)
    _, top = run(RAPPORTCTL, '--help')
    commands = set(re.findall(r'^  ([a-z]+) ', top.split('\nOptions:')[0], re.M))
    n = 0
    for lang, b in blocks:
        if lang != 'sh':
            continue
        for line in b.split('\n'):
            line = re.sub(r'\s#.*', '', line).strip()
            for cmdline in re.split(r'&&|\|', line):
                words = cmdline.split()
                if words[:1] == ['sudo']:
                    words = words[1:]
                if not words or words[0] not in ('rapportctl', 'rapportd'):
                    continue
                n += 1
                if words[0] == 'rapportd':
                    _, h = run(RAPPORTD, '--help')
                    bad = sorted(options_in(' '.join(words[1:])) - options_in(h))
                    report(not bad, 'README: %s: options exist' % cmdline.strip(), ' '.join(bad))
                    continue
                cmd = words[1] if len(words) > 1 else ''
                report(cmd in commands, 'README: %s: a rapportctl command' % cmdline.strip(), cmd)
                _, h = run(RAPPORTCTL, cmd, '--help')
                bad = sorted(options_in(' '.join(words[2:])) - options_in(h.split('\n\n')[0]) - {'--json'})
                report(not bad, 'README: %s: options exist' % cmdline.strip(), ' '.join(bad))
    report(n > 10, 'README command lines found', str(n))


{'settings': check_settings, 'readme': check_readme, 'values': check_values, 'examples': check_examples,
 'ctl': check_ctl, 'daemon': check_daemon}[CHECK]()
