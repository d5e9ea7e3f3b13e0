package Omni::Jwt;

# Keys and tokens for the integration tests: keys are generated with the
# openssl CLI into the test's prefix (never committed), tokens are minted
# with omni-jwt (Omni::Test::bin: build/bin, or OMNI_BIN), and attack
# tokens that no honest signer makes are forged here by hand.

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA qw(hmac_sha256);
use Exporter qw(import);
use File::Path qw(make_path);
use MIME::Base64 qw(encode_base64);
use Omni::Test ();

our @EXPORT_OK = qw(keygen mint forge b64url slurp);


sub b64url {
    my ($bytes) = @_;
    my $s = encode_base64($bytes, '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}


sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "cannot read $path: $!";
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}


sub _run {
    my (@cmd) = @_;
    system(@cmd) == 0 or croak "failed: @cmd";
}


# keygen($dir) -> { rsa => {key, pub}, rsa2 => ..., ec256 => ..., ec384,
#                   ec521, hs32 => path, hs64 => path }

sub keygen {
    my ($dir) = @_;
    my %k;

    make_path($dir);

    for my $name (qw(rsa rsa2)) {
        my $key = "$dir/$name.pem";
        _run('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
             'rsa_keygen_bits:2048', '-out', $key, '-quiet');
        _run('openssl', 'pkey', '-in', $key, '-pubout', '-out',
             "$dir/$name.pub");
        $k{$name} = { key => $key, pub => "$dir/$name.pub" };
    }

    for my $bits (qw(256 384 521)) {
        my $key = "$dir/ec$bits.pem";
        _run('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
             "ec_paramgen_curve:P-$bits", '-out', $key);
        _run('openssl', 'pkey', '-in', $key, '-pubout', '-out',
             "$dir/ec$bits.pub");
        $k{"ec$bits"} = { key => $key, pub => "$dir/ec$bits.pub" };
    }

    for my $len (qw(32 64)) {
        my $path = "$dir/hs$len.key";
        open my $fh, '>:raw', $path or croak "cannot write $path: $!";
        print $fh join('', map { chr(int(rand(256))) } 1 .. $len);
        close $fh;
        $k{"hs$len"} = $path;
    }

    return \%k;
}


# mint(alg => 'RS256', key => FILE, name => value | [values] | undef)
# -> token; each name is an omni-jwt option, undef for a bare flag

sub mint {
    my (%opt) = @_;
    my @args = ('--alg', delete $opt{alg});

    push @args, '--key', delete $opt{key} if exists $opt{key};
    push @args, @{ delete $opt{args} } if exists $opt{args};

    for my $name (sort keys %opt) {
        if (!defined $opt{$name}) {
            push @args, "--$name";
            next;
        }

        my $values = ref $opt{$name} ? $opt{$name} : [ $opt{$name} ];
        push @args, "--$name", $_ for @$values;
    }

    my $bin = Omni::Test::bin('omni-jwt');
    open my $fh, '-|', $bin, 'mint', @args or croak "cannot run $bin: $!";
    my $token = do { local $/; <$fh> };
    close $fh or croak "omni-jwt mint @args failed";
    chomp $token;

    return $token;
}


# forge($header_json, $payload_json, $hmac_secret_or_undef) -> token with
# an HMAC-SHA256 signature, or an empty one when no secret is given

sub forge {
    my ($header, $payload, $secret) = @_;
    my $input = b64url($header) . '.' . b64url($payload);
    my $sig = defined $secret ? b64url(hmac_sha256($input, $secret)) : '';
    return "$input.$sig";
}


1;
