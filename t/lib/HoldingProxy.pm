package HoldingProxy;

# A proxy in front of a real redis-server that stops one command half-way, so
# a test can make another client's change land at an exact point of it: the
# deterministic form of a race.
#
#   my $p = HoldingProxy->start(upstream => $redis->port, match => qr/\{$id\}/,
#                               hold => 'reply');
#   ... run apikeyctl against $p->address in the background ...
#   $p->wait_held or die;     # the matching command is stopped
#   ... change the key through another client ...
#   $p->release;              # the command goes on
#
# hold => 'reply': the first command whose arguments match runs in Redis, its
# reply is held (the client has read, the test changes, the client writes);
# hold => 'request': the command itself is held before Redis sees it.
# Every other command passes straight through. Clients must send one command
# and wait for its reply (hiredis's blocking API, as apikeyctl does).

use strict;
use warnings;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);

sub start {
    my ($class, %opt) = @_;
    my $listen = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
    my $self = bless { port => $listen->sockport, dir => tempdir(CLEANUP => 1),
                       hold => $opt{hold} // 'reply', match => $opt{match},
                       upstream => $opt{upstream} }, $class;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);   # one process group: stop() ends the connection handlers too
        $SIG{CHLD} = 'IGNORE';
        while (my $c = $listen->accept) {
            my $child = fork;
            if (defined $child && $child == 0) {
                close $listen;
                $self->serve($c);
                POSIX::_exit(0);
            }
            close $c;
        }
        POSIX::_exit(0);
    }
    close $listen;
    $self->{pid} = $pid;
    return $self;
}

sub port { $_[0]{port} }
sub address { "127.0.0.1:$_[0]{port}" }

# The arguments of the held command, once it is held (else undef).
sub held {
    my ($self) = @_;
    open my $f, '<', "$self->{dir}/held" or return undef;
    local $/;
    return <$f>;
}

sub wait_held {
    my ($self, $timeout) = @_;
    for (1 .. ($timeout // 10) * 50) {
        return 1 if defined $self->held;
        sleep 0.02;
    }
    return 0;
}

sub release {
    my ($self) = @_;
    open my $f, '>', "$self->{dir}/release" or die;
    close $f;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', -$pid;
    waitpid $pid, 0;
}

sub DESTROY { $_[0]->stop }

# Length of the complete RESP value at $pos of $buf, or undef if incomplete.
sub resp_end {
    my ($buf, $pos) = @_;
    my $eol = index($buf, "\r\n", $pos);
    return undef if $eol < 0;
    my $type = substr($buf, $pos, 1);
    my $n = substr($buf, $pos + 1, $eol - $pos - 1);
    my $next = $eol + 2;
    if ($type eq '$') {
        return $next if $n < 0;
        return length($buf) >= $next + $n + 2 ? $next + $n + 2 : undef;
    }
    if ($type eq '*') {
        return $next if $n < 0;
        for (1 .. $n) {
            $next = resp_end($buf, $next);
            return undef unless defined $next;
        }
        return $next;
    }
    return $next;
}

# One complete RESP value from a socket (with what was read beyond it kept
# in $$rest), or undef at end of file.
sub read_value {
    my ($sock, $rest) = @_;
    while (1) {
        if (length $$rest) {
            my $end = resp_end($$rest, 0);
            return substr($$rest, 0, $end, '') if defined $end;
        }
        my $n = sysread($sock, my $chunk, 65536);
        return undef unless $n;
        $$rest .= $chunk;
    }
}

# A request's arguments: *N then N bulk strings.
sub arguments {
    my ($req) = @_;
    my @args;
    while ($req =~ /\$(\d+)\r\n/g) {
        push @args, substr($req, pos($req), $1);
        pos($req) += $1 + 2;
    }
    return @args;
}

sub serve {
    my ($self, $client) = @_;
    my $redis = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{upstream},
                                      Proto => 'tcp') or return;
    my ($from_client, $from_redis) = ('', '');
    while (defined(my $req = read_value($client, \$from_client))) {
        my @args = arguments($req);
        my $hit = !-e "$self->{dir}/held" && grep { $_ =~ $self->{match} } @args;
        $self->hold(@args) if $hit && $self->{hold} eq 'request';
        syswrite($redis, $req) or return;
        my $reply = read_value($redis, \$from_redis) // return;
        $self->hold(@args) if $hit && $self->{hold} eq 'reply';
        syswrite($client, $reply) or return;
    }
}

sub hold {
    my ($self, @args) = @_;
    # the script's text is long and says nothing: name the command and the mode
    my @shown = map { length($_) > 200 ? '<script>' : $_ } @args;
    open my $f, '>', "$self->{dir}/held.tmp" or die;
    print $f join(' ', @shown);
    close $f;
    rename "$self->{dir}/held.tmp", "$self->{dir}/held";
    # a test that died without releasing must not leave the client hanging
    for (1 .. 3000) { last if -e "$self->{dir}/release"; sleep 0.01 }
}

1;
