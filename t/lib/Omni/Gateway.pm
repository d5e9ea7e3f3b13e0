package Omni::Gateway;

# What tests of the gateway's channels share beyond Omni::Test: a plugin
# directory holding the shipped plugins and the test plugins named, a
# scrape of omni_metrics as a hash, and omnictl on a store.

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);

our @EXPORT_OK = qw(plugins_dir scrape omnictl);

# $t->prefix/plugins: links to plugins/*.lua and to the files given
# (paths under the repository)
sub plugins_dir {
    my ($t, @extra) = @_;
    my $repo = Omni::Test::repo_root();
    my $dir = $t->prefix . '/plugins';
    mkdir $dir or croak "$dir: $!";
    for my $p (glob("$repo/plugins/*.lua"), map { "$repo/$_" } @extra) {
        my ($name) = $p =~ m{([^/]+)$};
        symlink $p, "$dir/$name" or croak "$dir/$name: $!";
    }
    return $dir;
}

# name{labels} => value, from one scrape of $path (default /metrics)
sub scrape {
    my ($t, $path) = @_;
    my $r = $t->request(path => $path // '/metrics');
    my %m;
    for (split /\n/, $r->{body}) {
        next if /^#/ || !/\S/;
        my ($series, $value) = /^(\S+) (\S+)$/ or next;
        $m{$series} = $value;
    }
    return \%m;
}

# omnictl -d $store @args, without a shell: its exit status and stdout
sub omnictl {
    my ($store, @args) = @_;
    my $bin = Omni::Test::bin('omnictl');
    open(my $fh, '-|', $bin, '-d', $store, @args) or croak "omnictl: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    return ($? >> 8, $out);
}

1;
