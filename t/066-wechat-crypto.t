# WeChat's encrypted modes through nginx: the official account in safe and
# compatible modes, and WeCom.  The fixtures come from an implementation
# of the scheme of its own (t/fixtures/wxcrypt_fixtures.py); here they are
# signed again for the current time (Digest::SHA), since the plugins refuse
# timestamps outside the replay window, and the encrypted replies are
# opened with the openssl command, not with the gateway's code.

use strict;
use warnings;

use lib 't/lib';
use JSON::PP;
use Test::More;
use Digest::SHA qw(sha1_hex);
use MIME::Base64 qw(decode_base64);
use File::Temp qw(tempfile);
use Omni::Test;
use Omni::Jwt qw(slurp);

my $t = Omni::Test->new;
my $repo = Omni::Test::repo_root();

sub fixture {
    my ($name) = @_;
    return decode_json(slurp("$repo/t/fixtures/$name.json"));
}

sub settings_conf {
    my ($s) = @_;
    return join '', map { "        omni_plugin_set $_ $s->{$_};\n" } sort keys %$s;
}

my $safe = fixture('wechat_oa/safe_text_message')->{request}{settings};
my $compat = fixture('wechat_oa/compatible_plaintext')->{request}{settings};
my $wecom = fixture('wecom/text_message')->{request}{settings};

my $http = "omni_plugins $repo/plugins;\nomni_lua_library $repo/lua;\n" . <<"END";
log_format contract escape=none '\$request_body';

server {
    listen 127.0.0.1:%%PORT1%%;
    access_log %%PREFIX%%/contracts.log contract;
    client_body_buffer_size 64k;

    location / {
        proxy_set_header X-Contract \$request_body;
        proxy_pass http://127.0.0.1:%%PORT2%%/reply;
    }
}

server {
    listen 127.0.0.1:%%PORT2%%;
    large_client_header_buffers 4 64k;
    access_log off;

    location /reply {
        default_type application/json;
        return 200 '{"ok":true,"data":{"text":"action \$http_x_omni_action"}}';
    }
}

server {
    listen 127.0.0.1:%%PORT%%;
    client_body_buffer_size 64k;
    add_header X-Omni-Error \$omni_error always;

    proxy_method POST;
    proxy_set_header Content-Type application/json;
    proxy_set_header X-Omni-Action \$omni_action;
    proxy_set_body \$omni_contract;

    location /oa/safe {
        omni_channel wechat_oa;
        omni_auth plugin;
@{[ settings_conf($safe) ]}        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /oa/compatible {
        omni_channel wechat_oa;
        omni_auth plugin;
@{[ settings_conf($compat) ]}        proxy_pass http://127.0.0.1:%%PORT1%%;
    }

    location /corp/wecom/ {
        omni_channel wecom;
        omni_auth plugin;
@{[ settings_conf($wecom) ]}        proxy_pass http://127.0.0.1:%%PORT1%%;
    }
}
END

$t->start($http);

# the fixture's query for now: the timestamp moved by as much as the
# fixture's request time, the signatures made again, but for fixtures
# whose signature is meant to be wrong
sub resign {
    my ($fx, $now) = @_;
    my $req = $fx->{request};
    my %q;
    my @order;
    for (split /&/, $req->{query}) {
        my ($k, $v) = split /=/, $_, 2;
        push @order, $k;
        ($q{$k} = $v) =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    }
    my $ts = $now + ($q{timestamp} - $req->{time});
    my $auth = $fx->{expect}{authenticate};
    my $keep = (ref $auth eq 'HASH' && $auth->{code} eq 'signature_invalid')
               || ($fx->{expect}{respond} && $fx->{expect}{respond}{status} == 401);
    my $token = $req->{settings}{token};
    my $encrypt;
    if ($req->{body} =~ m{<Encrypt><!\[CDATA\[([^\]]*)\]\]></Encrypt>}) {
        $encrypt = $1;
    } else {
        $encrypt = $q{echostr};
    }
    $q{timestamp} = $ts;
    unless ($keep) {
        $q{msg_signature} = sha1_hex(join '', sort $token, $ts, $q{nonce}, $encrypt)
            if exists $q{msg_signature};
        $q{signature} = sha1_hex(join '', sort $token, $ts, $q{nonce})
            if exists $q{signature};
    }
    return join '&', map {
        (my $v = $q{$_}) =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge;
        "$_=$v";
    } @order;
}

sub send_fixture {
    my ($path, $fx) = @_;
    my $req = $fx->{request};
    my $body = $req->{body};
    utf8::encode($body);
    return $t->request(
        method => $req->{method},
        path => "$path?" . resign($fx, time),
        headers => [ $req->{method} eq 'POST' ? [ 'content-type' => 'text/xml' ] : () ],
        (length $body ? (body => $body) : ()),
        no_subst => 1,
    );
}

# opens an encrypted reply with the openssl command
sub open_reply {
    my ($xml, $settings, $receiver) = @_;
    my ($encrypt) = $xml =~ m{<Encrypt><!\[CDATA\[([^\]]+)\]\]></Encrypt>};
    my ($sig) = $xml =~ m{<MsgSignature><!\[CDATA\[([0-9a-f]+)\]\]></MsgSignature>};
    my ($ts) = $xml =~ m{<TimeStamp>(\d+)</TimeStamp>};
    my ($nonce) = $xml =~ m{<Nonce><!\[CDATA\[([^\]]+)\]\]></Nonce>};
    return (undef, 'no Encrypt') unless defined $encrypt && defined $nonce && defined $ts;
    return (undef, 'bad signature')
        unless ($sig // '') eq sha1_hex(join '', sort $settings->{token}, $ts, $nonce, $encrypt);
    return (undef, 'stale timestamp') if abs(time - $ts) > 60;
    my $key = decode_base64($settings->{encoding_aes_key} . '=');
    my ($fh, $file) = tempfile(UNLINK => 1);
    binmode $fh;
    print $fh decode_base64($encrypt);
    close $fh;
    my $plain = `openssl enc -d -aes-256-cbc -nopad -K @{[ unpack 'H*', $key ]} -iv @{[ unpack 'H*', substr $key, 0, 16 ]} -in $file`;
    my $pad = ord substr $plain, -1;
    return (undef, 'bad padding') if $pad < 1 || $pad > 32;
    $plain = substr $plain, 0, length($plain) - $pad;
    my $n = unpack 'N', substr $plain, 16, 4;
    my $message = substr $plain, 20, $n;
    return (undef, 'wrong receiver') unless substr($plain, 20 + $n) eq $receiver;
    return ($message, '');
}

my $contracts = 0;

for my $case ([ 'wechat_oa/safe_*', '/oa/safe', 'appid' ],
              [ 'wechat_oa/compatible_*', '/oa/compatible', 'appid' ],
              [ 'wecom/*', '/corp/wecom/callback', 'corp_id' ]) {
    my ($glob, $path, $receiver_name) = @$case;
    for my $file (sort glob "$repo/t/fixtures/$glob.json") {
        my ($name) = $file =~ m{/(\w+/\w+)\.json$};
        my $fx = decode_json(slurp($file));
        my $expect = $fx->{expect};
        my $settings = $fx->{request}{settings};
        my $r = send_fixture($path, $fx);

        if (my $respond = $expect->{respond}) {
            is($r->{status}, $respond->{status}, "$name: status $respond->{status}");
            is($r->{body}, $respond->{body}, "$name: $respond->{body}");
        } elsif (my $action = $expect->{action}) {
            $contracts++;
            is($r->{status}, 200, "$name: 200");
            if (!@{ $expect->{identities} || [1] }) {
                is($r->{body}, '', "$name: no one to answer, an empty body");
            } elsif ($fx->{request}{body} =~ /<Encrypt>/) {
                my ($inner, $why) = open_reply($r->{body}, $settings,
                                               $settings->{$receiver_name});
                ok(defined $inner, "$name: the reply opens with openssl") or diag($why);
                like($inner // '', qr/<Content><!\[CDATA\[action \Q$action\E\]\]><\/Content>/,
                     "$name: ...and answers $action");
            } else {
                like($r->{body}, qr/action \Q$action\E/, "$name: a plaintext reply");
            }
        } else {
            my $e = $expect->{authenticate};
            is($r->{headers}{'x-omni-error'}, $e->{code}, "$name: refused with $e->{code}");
            if ($e->{status} == 401) {
                is($r->{status}, 401, "$name: 401");
                is($r->{body}, 'invalid signature', "$name: ...invalid signature");
            } else {
                is($r->{status}, 200, "$name: 200, as WeChat wants");
                is($r->{body}, $path =~ /wecom/ ? '' : 'success', "$name: ...nothing to show");
            }
        }
    }
}

my @lines;
for (1 .. 100) {
    @lines = grep { length } split /\n/, ($t->read_file('contracts.log') // '');
    last if @lines >= $contracts;
    select undef, undef, undef, 0.01;
}
is(scalar @lines, $contracts, "$contracts contracts, none for a refused message");
ok($contracts >= 6, 'the good messages of each mode got through');

# the same message sent twice within the window is accepted twice (WeChat
# retries): the plugins do not keep state; an hour later it is refused
my $fx = fixture('wechat_oa/safe_text_message');
my $r = send_fixture('/oa/safe', $fx);
is($r->{status}, 200, 'a retry within the window: served');
$fx->{request}{time} += 3600;
$r = send_fixture('/oa/safe', $fx);
is($r->{headers}{'x-omni-error'}, 'signature_expired', 'an hour old: signature_expired');

# the checked-in fixtures are what their generators write (when Python has
# the cryptography package: the tests themselves do not need it)
SKIP: {
    system("python3 -c 'import cryptography' 2>/dev/null") == 0
        or skip('python3-cryptography is not installed', 2);
    my $out = $t->prefix . '/fixtures';
    for my $gen ('wxcrypt_fixtures.py', 'sms_fixtures.py') {
        system("FIXTURES_OUT=$out python3 $repo/t/fixtures/$gen") == 0
            or die "$gen failed";
    }
    my $diff = `cd $out && for f in */*.json; do cmp -s \$f $repo/t/fixtures/\$f || echo \$f; done`;
    is($diff, '', 'the fixtures are the generators\' output');
    my @made = glob "$out/*/*.json";
    cmp_ok(scalar @made, '>=', 29, scalar(@made) . ' fixtures made again');
}

done_testing();
